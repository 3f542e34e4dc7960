import { formatAmount, minorUnitsToAmount, parseAmount } from "@aitasks/db";
import { bookCredit } from "../credits/credit-entry.js";
import { DisputeObject } from "../schemas.js";
import { bookStripeMoney, defineHandler, eventTime, resolveUserId } from "./handler.js";
import { userOfCharge } from "./refund-booking.js";

/**
 * `charge.dispute.*`: every balance transaction of the dispute, booked once by its id: the funds
 * withdrawn (negative `dispute` income) with the dispute fee (`payment_fee`), and funds reinstated
 * when the dispute is won (positive, with the fee returned if Stripe returns it). The amounts are
 * what Stripe settled, so a lost dispute costs exactly what it took from the balance. A lost
 * dispute (closed with status `lost`) takes back from its user's credit what the customer got back.
 */
export const disputeFundsMoved = defineHandler(DisputeObject, async (tx, event, dispute) => {
  const userId = (await resolveUserId(tx, dispute.metadata?.user_id, null)) ?? (await userOfCharge(tx, dispute.charge));
  for (const transaction of dispute.balance_transactions) {
    await bookStripeMoney(tx, {
      category: "dispute",
      minorUnits: transaction.amount,
      currency: transaction.currency,
      settlement: transaction,
      occurredAt: eventTime(event),
      userId,
      stripeObjectId: transaction.id,
      stripeChargeId: dispute.charge,
    });
  }
  if (dispute.status === "lost") {
    await bookCredit(tx, {
      userId,
      source: "dispute",
      sourceKey: dispute.id,
      amount: formatAmount(-disputedUsd(dispute)),
      occurredAt: eventTime(event),
    });
  }
});

/** What the customer got back, in USD: the dispute's withdrawals as settled, else its own amount. */
function disputedUsd(dispute: DisputeObject): bigint {
  const withdrawn = dispute.balance_transactions
    .filter((transaction) => transaction.currency === "usd" && transaction.amount < 0)
    .reduce((total, transaction) => total - parseAmount(minorUnitsToAmount(transaction.amount, "usd")), 0n);
  if (withdrawn > 0n) return withdrawn;
  return dispute.currency === "usd" && dispute.amount ? parseAmount(minorUnitsToAmount(dispute.amount, "usd")) : 0n;
}
