import type { Transaction } from "@aitasks/db";
import { picoOf } from "./stripe-books.js";
import { linkedStripeObjects, loadStripeObject } from "./stripe-objects.js";
import { invoiceGrant, paymentGrant } from "./stripe-payment-books.js";
import type { StripeInvoice, StripeInvoicePayment, StripePayment } from "./stripe-state.js";

/**
 * The payment a refund or a dispute gives back, as far as it is booked: whose it is, the credit it
 * granted, and what it paid (in the currency refunds and disputes of its charge are counted in).
 */
export interface PaidFor {
  userId: number | null;
  /** The credit the payment grants (pico-USD, ≥ 0). */
  granted: bigint;
  /** What it paid, in `currency`'s smallest unit: a micro-payment's amount, an invoice's amount paid. */
  paid: number;
  currency: string;
}

/**
 * Credit taken back for `returned` of a payment that granted `granted` for `paid` (both amounts in
 * the payment's currency): `granted × returned / paid`, exact in pico-USD and rounded down, so the
 * take-backs of one payment's refunds and disputes together never exceed its grant (a payment
 * refunded in n parts may keep up to n − 1 pico-dollars). Without the payment (not booked yet),
 * what a dollar refund returns, as a micro-payment would grant it; corrected once it is booked.
 */
export function creditTakenBack(returned: number, currency: string, payment: PaidFor | null): bigint {
  if (payment && payment.currency === currency) {
    if (payment.paid <= 0 || returned <= 0) return 0n;
    return (payment.granted * BigInt(Math.min(returned, payment.paid))) / BigInt(payment.paid);
  }
  return currency === "usd" ? picoOf(returned, currency) : 0n;
}

/**
 * The booked payment of a charge or payment intent: a micro-payment, or the invoice one of whose
 * payments it is. Null while neither is booked.
 */
export async function paidForOf(
  tx: Transaction,
  links: { chargeId: string | null; paymentIntentId: string | null },
): Promise<PaidFor | null> {
  const [found] = await linkedStripeObjects(tx, ["payment", "invoice_payment"], {
    chargeIds: [links.chargeId],
    paymentIntentIds: [links.paymentIntentId],
  });
  if (!found) return null;
  if (found.kind === "payment") {
    const payment = found.state as StripePayment;
    return { userId: payment.userId, granted: paymentGrant(payment), paid: payment.amount, currency: payment.currency };
  }
  const { invoice: invoiceId } = found.state as StripeInvoicePayment & { invoice: string };
  const invoice = await loadStripeObject<StripeInvoice>(tx, "invoice", invoiceId);
  if (!invoice) return null;
  return {
    userId: invoice.userId,
    granted: invoiceGrant(invoice),
    paid: invoice.amountPaid,
    currency: invoice.currency,
  };
}
