import { parseAmount } from "@aitasks/db";
import { type MoneyLine, picoOf, type StripeBooks, type StripeFamily } from "./stripe-books.js";
import type { Settlement, StripeInvoice, StripePayment } from "./stripe-state.js";

/**
 * What a payment's state implies, as pure functions of it (the booking functions book these minus
 * what is booked). Money is booked as Stripe settled it: the balance transaction's amount in the
 * settlement currency, what the customer paid kept beside it, Stripe's fee as a `payment_fee`
 * expense; without a settlement, in the payment's own currency. Credit is granted in US dollars:
 * what the payment brought in dollars, or for an invoice SUBSCRIPTION_CREDIT_USD when set.
 */

/** Stripe's fee on a balance transaction, as an expense keyed by the transaction. */
export function feeLine(settlement: Settlement, userId: number | null, chargeId: string | null): MoneyLine[] {
  if (settlement.fee === 0) return [];
  return [
    {
      key: settlement.id,
      category: "payment_fee",
      amount: picoOf(settlement.fee, settlement.currency),
      currency: settlement.currency,
      userId,
      chargeId,
      balanceTransactionId: settlement.id,
    },
  ];
}

/** Money of `minor` units of `currency` that Stripe settled as `settlement` (or has not settled). */
function settledLine(
  line: Omit<MoneyLine, "amount" | "currency" | "original" | "balanceTransactionId">,
  minor: number,
  currency: string,
  settlement: Settlement | null,
): MoneyLine {
  const own = picoOf(minor, currency);
  if (!settlement) return { ...line, amount: own, currency };
  return {
    ...line,
    amount: picoOf(settlement.amount, settlement.currency),
    currency: settlement.currency,
    balanceTransactionId: settlement.id,
    original: { amount: own, currency },
  };
}

const dollarsOf = (lines: MoneyLine[]) =>
  lines.filter((line) => line.currency === "usd").reduce((total, line) => total + line.amount, 0n);

function paymentMoney(payment: StripePayment): MoneyLine[] {
  const { id, userId, chargeId, settlement } = payment;
  const income = settledLine(
    { key: id, category: "micro_payment", userId, chargeId },
    payment.amount,
    payment.currency,
    settlement,
  );
  return [income, ...(settlement ? feeLine(settlement, userId, chargeId) : [])];
}

/** The credit a micro-payment grants: what it brought in US dollars. */
export const paymentGrant = (payment: StripePayment): bigint =>
  dollarsOf(paymentMoney(payment).filter((line) => line.category === "micro_payment"));

export function paymentBooks(payment: StripePayment): StripeBooks {
  return {
    money: paymentMoney(payment),
    credit: [{ key: payment.id, source: "payment", amount: paymentGrant(payment), userId: payment.userId }],
  };
}

export const paymentFamily = (payment: StripePayment): StripeFamily => ({
  id: payment.id,
  categories: ["micro_payment", "payment_fee"],
  sources: ["payment"],
  balanceTransactionIds: payment.settlement ? [payment.settlement.id] : [],
});

/**
 * An invoice's income: one row per payment that paid it, as settled (keyed by the invoice when it
 * had one payment, else `<invoice>/<payment>`); without its payments, the amount paid in its currency.
 */
function invoiceMoney(invoice: StripeInvoice): MoneyLine[] {
  const { id, userId } = invoice;
  const payments = (invoice.payments ?? []).filter((payment) => payment.settlement || payment.amountPaid);
  if (payments.length === 0) {
    return [
      settledLine(
        { key: id, category: "subscription", userId, chargeId: null },
        invoice.amountPaid,
        invoice.currency,
        null,
      ),
    ];
  }
  return payments.flatMap((payment) => {
    const key = payments.length === 1 ? id : `${id}/${payment.id}`;
    const paid = payments.length === 1 ? invoice.amountPaid : (payment.amountPaid ?? 0);
    const line = { key, category: "subscription" as const, userId, chargeId: payment.chargeId };
    return [
      settledLine(line, paid, invoice.currency, payment.settlement),
      ...(payment.settlement ? feeLine(payment.settlement, userId, payment.chargeId) : []),
    ];
  });
}

/** The credit an invoice grants: SUBSCRIPTION_CREDIT_USD as it was when first booked, else what it brought in dollars. */
export const invoiceGrant = (invoice: StripeInvoice): bigint =>
  invoice.creditUsd !== null
    ? parseAmount(invoice.creditUsd)
    : dollarsOf(invoiceMoney(invoice).filter((line) => line.category === "subscription"));

export function invoiceBooks(invoice: StripeInvoice): StripeBooks {
  return {
    money: invoiceMoney(invoice),
    credit: [{ key: invoice.id, source: "invoice", amount: invoiceGrant(invoice), userId: invoice.userId }],
  };
}

export const invoiceFamily = (invoice: StripeInvoice): StripeFamily => ({
  id: invoice.id,
  categories: ["subscription", "payment_fee"],
  sources: ["invoice"],
  balanceTransactionIds: (invoice.payments ?? []).flatMap((payment) =>
    payment.settlement ? [payment.settlement.id] : [],
  ),
});
