import { bookStripeChargeRefunds } from "@aitasks/ledger";
import { ChargeObject, type RefundObject } from "../schemas.js";
import { defineHandler, eventTime, resolveUserId } from "./handler.js";
import { refundsOfCharge, settledAs } from "./settlement.js";

/**
 * `charge.refunded`: each of the charge's refunds, as Stripe's API lists them now (without a
 * Stripe key, those the event carries, if any), and the charge's running `amount_refunded`, whose
 * part no known refund explains is booked under the charge. Until their payment is booked, they
 * are booked to the user the charge's metadata or customer names.
 */
export const chargeRefunded = defineHandler<typeof ChargeObject, RefundObject[] | undefined>(
  ChargeObject,
  async (tx, event, charge, { prepared }) => {
    const refunds = prepared ?? charge.refunds?.data ?? [];
    if (!charge.amount_refunded && refunds.length === 0) return;
    const userId = await resolveUserId(tx, charge.metadata?.user_id, charge.customer);
    const paymentIntentId = charge.payment_intent ?? null;
    const described = [];
    for (const refund of refunds) {
      described.push({
        id: refund.id,
        amount: refund.amount,
        currency: refund.currency,
        status: refund.status ?? null,
        chargeId: refund.charge ?? charge.id,
        paymentIntentId: refund.payment_intent ?? paymentIntentId,
        settlement: settledAs(refund.balance_transaction),
        failure: settledAs(refund.failure_balance_transaction),
        userId: (await resolveUserId(tx, refund.metadata?.user_id, null)) ?? userId,
      });
    }
    await bookStripeChargeRefunds(
      tx,
      { id: charge.id, paymentIntentId, amountRefunded: charge.amount_refunded, currency: charge.currency, userId },
      described,
      eventTime(event),
    );
  },
  async (charge, { stripe }) => (stripe ? refundsOfCharge(stripe, charge.id) : undefined),
);
