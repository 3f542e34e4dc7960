import { bookStripeDispute } from "@aitasks/ledger";
import { DisputeObject } from "../schemas.js";
import { defineHandler, eventTime, resolveUserId, settlementOf } from "./handler.js";
import { currentDispute } from "./settlement.js";

/**
 * `charge.dispute.*`: the dispute as Stripe holds it now (the event's own copy without a Stripe
 * key), with every balance transaction of its funds, booked by the ledger.
 */
export const disputeFundsMoved = defineHandler<typeof DisputeObject, DisputeObject>(
  DisputeObject,
  async (tx, event, received, { prepared }) => {
    const dispute = prepared ?? received;
    await bookStripeDispute(
      tx,
      {
        id: dispute.id,
        amount: dispute.amount ?? null,
        currency: dispute.currency ?? null,
        status: dispute.status ?? null,
        chargeId: dispute.charge,
        paymentIntentId: dispute.payment_intent ?? null,
        balanceTransactions: dispute.balance_transactions.map(settlementOf),
        userId: await resolveUserId(tx, dispute.metadata?.user_id, null),
      },
      eventTime(event),
    );
  },
  async (dispute, { stripe }) => (stripe ? currentDispute(stripe, dispute.id) : dispute),
);
