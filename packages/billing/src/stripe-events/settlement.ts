import { UpstreamError } from "@aitasks/errors";
import type Stripe from "stripe";
import { z } from "zod";
import { BalanceTransactionObject, StripeList } from "../schemas.js";
import { callStripe } from "../stripe-client.js";

/**
 * What Stripe settled for a payment, read from its API: the balance transaction of the payment's
 * charge. Stripe answers are validated as events are; one that lacks the balance transaction (not
 * created yet) fails the delivery with a 502, so Stripe delivers the event again later.
 */

const ChargeWithBalance = z.looseObject({ id: z.string(), balance_transaction: BalanceTransactionObject });
const IntentWithCharge = z.looseObject({ latest_charge: ChargeWithBalance });

function read<S extends z.ZodType>(schema: S, value: unknown, what: string): z.infer<S> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    throw new UpstreamError(
      `Stripe has no settled balance transaction for ${what} yet; the event will be retried`,
      true,
    );
  }
  return parsed.data;
}

/** A payment's settlement and the charge it settled. */
export type Settled = { chargeId: string; settlement: BalanceTransactionObject } | undefined;

export async function settlementOfPaymentIntent(stripe: Stripe, paymentIntentId: string): Promise<Settled> {
  const intent = await callStripe(() =>
    stripe.paymentIntents.retrieve(paymentIntentId, { expand: ["latest_charge.balance_transaction"] }),
  );
  const { latest_charge } = read(IntentWithCharge, intent, `payment ${paymentIntentId}`);
  return { chargeId: latest_charge.id, settlement: latest_charge.balance_transaction };
}

export async function settlementOfCharge(stripe: Stripe, chargeId: string): Promise<Settled> {
  const charge = await callStripe(() => stripe.charges.retrieve(chargeId, { expand: ["balance_transaction"] }));
  return { chargeId, settlement: read(ChargeWithBalance, charge, `charge ${chargeId}`).balance_transaction };
}

const InvoicePayments = StripeList(
  z.looseObject({
    status: z.string(),
    payment: z.looseObject({
      payment_intent: z.union([z.string(), z.looseObject({ id: z.string() })]).nullish(),
      charge: z.union([z.string(), z.looseObject({ id: z.string() })]).nullish(),
    }),
  }),
);
const idOf = (ref: string | { id: string }) => (typeof ref === "string" ? ref : ref.id);

/**
 * The settlement of a paid invoice, through its payments (API 2025-03-31 and later). Undefined for
 * an invoice paid outside Stripe (no payment of Stripe's): it is booked in its own currency.
 */
export async function settlementOfInvoice(stripe: Stripe, invoiceId: string): Promise<Settled> {
  const page = await callStripe(() => stripe.invoicePayments.list({ invoice: invoiceId, limit: 10 }));
  const payments = read(InvoicePayments, page, `invoice ${invoiceId}`);
  const paid = payments.data.find((payment) => payment.status === "paid");
  if (paid?.payment.payment_intent) return settlementOfPaymentIntent(stripe, idOf(paid.payment.payment_intent));
  if (paid?.payment.charge) return settlementOfCharge(stripe, idOf(paid.payment.charge));
  return undefined;
}

/** A balance transaction the event names by id (a refund's), or gives expanded. */
export async function balanceTransaction(
  stripe: Stripe | undefined,
  ref: string | BalanceTransactionObject | null | undefined,
): Promise<BalanceTransactionObject | undefined> {
  if (!ref) return undefined;
  if (typeof ref !== "string") return ref;
  if (!stripe) return undefined;
  const transaction = await callStripe(() => stripe.balanceTransactions.retrieve(ref));
  return read(BalanceTransactionObject, transaction, `balance transaction ${ref}`);
}
