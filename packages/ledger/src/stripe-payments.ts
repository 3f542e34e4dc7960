import type { Transaction } from "@aitasks/db";
import { convergeStripeBooks } from "./stripe-books.js";
import { convergeDispute } from "./stripe-disputes.js";
import { linkedStripeObjects, loadStripeObject, lockStripeKeys, saveStripeObject } from "./stripe-objects.js";
import { invoiceBooks, invoiceFamily, paymentBooks, paymentFamily } from "./stripe-payment-books.js";
import { convergeChargeRefunds, convergeRefund } from "./stripe-refunds.js";
import {
  mergeInvoice,
  mergePayment,
  type StripeDispute,
  type StripeInvoice,
  type StripePayment,
  type StripeRefund,
} from "./stripe-state.js";

/**
 * Books a paid micro-payment to match its state (see `paymentBooks`), minus what is booked; then
 * the refunds, disputes and running refund totals already booked against its charge or payment
 * intent, which now have their payment: they are attributed to its user and take back its credit.
 */
export async function bookStripePayment(tx: Transaction, payment: StripePayment, occurredAt: Date): Promise<void> {
  await lockStripeKeys(tx, [payment.id, payment.chargeId, payment.paymentIntentId]);
  const stored = await loadStripeObject<StripePayment>(tx, "payment", payment.id);
  const state = mergePayment(stored, payment);
  await lockStripeKeys(tx, [state.chargeId, state.paymentIntentId]);
  await saveStripeObject(tx, "payment", state.id, state, {
    chargeId: state.chargeId,
    paymentIntentId: state.paymentIntentId,
  });
  await convergeStripeBooks(tx, paymentFamily(state), paymentBooks(state), occurredAt);
  await convergeGivenBack(tx, { chargeIds: [state.chargeId], paymentIntentIds: [state.paymentIntentId] }, occurredAt);
}

/**
 * Books a paid subscription invoice to match its state (see `invoiceBooks`): every payment that
 * paid it, as settled, and its credit; then what was given back of those payments (as above).
 */
export async function bookStripeInvoice(tx: Transaction, invoice: StripeInvoice, occurredAt: Date): Promise<void> {
  const links = (invoice.payments ?? []).flatMap((payment) => [payment.chargeId, payment.paymentIntentId]);
  await lockStripeKeys(tx, [invoice.id, ...links]);
  const stored = await loadStripeObject<StripeInvoice>(tx, "invoice", invoice.id);
  const state = mergeInvoice(stored, invoice);
  await lockStripeKeys(
    tx,
    (state.payments ?? []).flatMap((payment) => [payment.chargeId, payment.paymentIntentId]),
  );
  await saveStripeObject(tx, "invoice", state.id, state, { chargeId: null, paymentIntentId: null });
  for (const payment of state.payments ?? []) {
    await saveStripeObject(
      tx,
      "invoice_payment",
      payment.id,
      { ...payment, invoice: state.id },
      { chargeId: payment.chargeId, paymentIntentId: payment.paymentIntentId },
    );
  }
  await convergeStripeBooks(tx, invoiceFamily(state), invoiceBooks(state), occurredAt);
  await convergeGivenBack(
    tx,
    {
      chargeIds: (state.payments ?? []).map((payment) => payment.chargeId),
      paymentIntentIds: (state.payments ?? []).map((payment) => payment.paymentIntentId),
    },
    occurredAt,
  );
}

async function convergeGivenBack(
  tx: Transaction,
  links: { chargeIds: (string | null)[]; paymentIntentIds: (string | null)[] },
  occurredAt: Date,
) {
  for (const { kind, id, state } of await linkedStripeObjects(tx, ["refund", "dispute", "charge"], links)) {
    if (kind === "refund") await convergeRefund(tx, state as StripeRefund, occurredAt);
    else if (kind === "dispute") await convergeDispute(tx, state as StripeDispute, occurredAt);
    else await convergeChargeRefunds(tx, id, occurredAt);
  }
}
