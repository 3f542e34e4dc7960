import { bookStripeRefund } from "@aitasks/ledger";
import { RefundObject } from "../schemas.js";
import { defineHandler, eventTime, resolveUserId } from "./handler.js";
import { currentRefund, settledAs } from "./settlement.js";

/**
 * `refund.created`, `refund.updated`, `refund.failed` and `charge.refund.updated`: the refund as
 * Stripe holds it now (the event's own copy without a Stripe key), booked by the ledger.
 */
export const refundChanged = defineHandler<typeof RefundObject, RefundObject>(
  RefundObject,
  async (tx, event, received, { prepared }) => {
    const refund = prepared ?? received;
    await bookStripeRefund(
      tx,
      {
        id: refund.id,
        amount: refund.amount,
        currency: refund.currency,
        status: refund.status ?? null,
        chargeId: refund.charge ?? null,
        paymentIntentId: refund.payment_intent ?? null,
        settlement: settledAs(refund.balance_transaction),
        failure: settledAs(refund.failure_balance_transaction),
        userId: await resolveUserId(tx, refund.metadata?.user_id, null),
      },
      eventTime(event),
    );
  },
  async (refund, { stripe }) => (stripe ? currentRefund(stripe, refund.id) : refund),
);
