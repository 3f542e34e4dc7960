import { DisputeObject } from "../schemas.js";
import { bookStripeMoney, defineHandler, eventTime, resolveUserId } from "./handler.js";
import { userOfCharge } from "./refund-booking.js";

/**
 * `charge.dispute.*`: every balance transaction of the dispute, booked once by its id: the funds
 * withdrawn (negative `dispute` income) with the dispute fee (`payment_fee`), and funds reinstated
 * when the dispute is won (positive, with the fee returned if Stripe returns it). The amounts are
 * what Stripe settled, so a lost dispute costs exactly what it took from the balance.
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
});
