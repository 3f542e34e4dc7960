import { UpstreamError } from "@aitasks/errors";
import type { Settlement, StripeInvoicePayment } from "@aitasks/ledger";
import type Stripe from "stripe";
import { z } from "zod";
import { BalanceTransactionObject, DisputeObject, RefundObject, StripeList } from "../schemas.js";
import { callStripe } from "../stripe-client.js";
import { settlementOf } from "./handler.js";

/**
 * What Stripe's API says now of the objects an event names: each event is a notification, and the
 * books follow the object's current state. Answers are validated as events are; one that lacks
 * what is booked (a payment's balance transaction, not created yet) fails the delivery with a 502,
 * so Stripe delivers the event again later. An object Stripe does not have is a 404 that
 * `callStripe` reports apart (the event is then recorded with that problem).
 */

function read<S extends z.ZodType>(schema: S, value: unknown, problem: string): z.infer<S> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new UpstreamError(problem, true);
  return parsed.data;
}

const notSettledYet = (what: string) =>
  `Stripe has no settled balance transaction for ${what} yet; the event will be retried`;

const ChargeWithBalance = z.looseObject({ id: z.string(), balance_transaction: BalanceTransactionObject });
const IntentWithCharge = z.looseObject({ latest_charge: ChargeWithBalance });

/** A payment's settlement and the charge it settled. */
export type Settled = { chargeId: string; settlement: Settlement };

export async function settlementOfPaymentIntent(stripe: Stripe, paymentIntentId: string): Promise<Settled> {
  const intent = await callStripe(() =>
    stripe.paymentIntents.retrieve(paymentIntentId, { expand: ["latest_charge.balance_transaction"] }),
  );
  const { latest_charge } = read(IntentWithCharge, intent, notSettledYet(`payment ${paymentIntentId}`));
  return { chargeId: latest_charge.id, settlement: settlementOf(latest_charge.balance_transaction) };
}

async function settlementOfCharge(stripe: Stripe, chargeId: string): Promise<Settled> {
  const charge = await callStripe(() => stripe.charges.retrieve(chargeId, { expand: ["balance_transaction"] }));
  const { balance_transaction } = read(ChargeWithBalance, charge, notSettledYet(`charge ${chargeId}`));
  return { chargeId, settlement: settlementOf(balance_transaction) };
}

const reference = z.union([z.string(), z.looseObject({ id: z.string() })]).nullish();
const InvoicePayments = StripeList(
  z.looseObject({
    id: z.string().nullish(),
    status: z.string(),
    amount_paid: z.number().int().nullish(),
    payment: z.looseObject({ payment_intent: reference, charge: reference }),
  }),
);
const idOf = (ref: string | { id: string } | null | undefined) => (typeof ref === "string" ? ref : (ref?.id ?? null));

/**
 * Every paid payment of an invoice (API 2025-03-31 and later: an invoice may be paid in several),
 * every page of them, each with its settlement. A payment outside Stripe (a payment record) has none.
 */
export async function paymentsOfInvoice(stripe: Stripe, invoiceId: string): Promise<StripeInvoicePayment[]> {
  const payments: StripeInvoicePayment[] = [];
  let startingAfter: string | undefined;
  do {
    const page = await callStripe(() =>
      stripe.invoicePayments.list({
        invoice: invoiceId,
        status: "paid",
        limit: 100,
        ...(startingAfter ? { starting_after: startingAfter } : {}),
      }),
    );
    const parsed = read(InvoicePayments, page, `Stripe sent an unreadable list of payments of invoice ${invoiceId}`);
    for (const item of parsed.data.filter((payment) => payment.status === "paid")) {
      const paymentIntentId = idOf(item.payment.payment_intent);
      const chargeId = idOf(item.payment.charge);
      const settled = paymentIntentId
        ? await settlementOfPaymentIntent(stripe, paymentIntentId)
        : chargeId
          ? await settlementOfCharge(stripe, chargeId)
          : undefined;
      payments.push({
        id: paymentIntentId ?? chargeId ?? item.id ?? invoiceId,
        paymentIntentId,
        chargeId: settled?.chargeId ?? chargeId,
        amountPaid: item.amount_paid ?? null,
        settlement: settled?.settlement ?? null,
      });
    }
    startingAfter = parsed.has_more ? (parsed.data.at(-1)?.id ?? undefined) : undefined;
  } while (startingAfter);
  return payments;
}

const EXPANDED_REFUND = ["balance_transaction", "failure_balance_transaction"];

/** A refund as Stripe holds it now, with its balance transactions. */
export async function currentRefund(stripe: Stripe, refundId: string): Promise<RefundObject> {
  const refund = await callStripe(() => stripe.refunds.retrieve(refundId, { expand: EXPANDED_REFUND }));
  return read(RefundObject, refund, `Stripe sent an unreadable refund ${refundId}`);
}

const Refunds = StripeList(RefundObject);

/** Every refund of a charge as Stripe holds it now, every page. */
export async function refundsOfCharge(stripe: Stripe, chargeId: string): Promise<RefundObject[]> {
  const refunds: RefundObject[] = [];
  let startingAfter: string | undefined;
  do {
    const page = await callStripe(() =>
      stripe.refunds.list({
        charge: chargeId,
        limit: 100,
        expand: EXPANDED_REFUND.map((field) => `data.${field}`),
        ...(startingAfter ? { starting_after: startingAfter } : {}),
      }),
    );
    const parsed = read(Refunds, page, `Stripe sent an unreadable list of refunds of charge ${chargeId}`);
    refunds.push(...parsed.data);
    startingAfter = parsed.has_more ? parsed.data.at(-1)?.id : undefined;
  } while (startingAfter);
  return refunds;
}

/** A dispute as Stripe holds it now (its balance transactions come with it). */
export async function currentDispute(stripe: Stripe, disputeId: string): Promise<DisputeObject> {
  const dispute = await callStripe(() => stripe.disputes.retrieve(disputeId));
  return read(DisputeObject, dispute, `Stripe sent an unreadable dispute ${disputeId}`);
}

/** A balance transaction an object gives expanded; one named by id only is not known (no Stripe key to ask). */
export const settledAs = (ref: string | BalanceTransactionObject | null | undefined): Settlement | null =>
  ref && typeof ref === "object" ? settlementOf(ref) : null;
