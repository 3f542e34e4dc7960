import type { Transaction } from "@aitasks/db";
import { convergeStripeBooks, type MoneyLine, picoOf, type StripeBooks, type StripeFamily } from "./stripe-books.js";
import { loadStripeObject, lockStripeKeys, saveStripeObject } from "./stripe-objects.js";
import { creditTakenBack, type PaidFor, paidForOf } from "./stripe-paid-for.js";
import { feeLine } from "./stripe-payment-books.js";
import { mergeDispute, type StripeDispute } from "./stripe-state.js";

/**
 * What a dispute's state implies, given its payment (null while not booked). Money: each of its
 * balance transactions, as Stripe settled it: the funds withdrawn (negative `dispute` income) with
 * the dispute fee (`payment_fee`), and the funds reinstated when it is won (positive, with the fee
 * Stripe returns), so a dispute costs what it took from the balance. Credit: a lost dispute takes
 * back `granted × disputed / paid` of its payment; without the payment, what it withdrew in dollars.
 */
export function disputeBooks(dispute: StripeDispute, payment: PaidFor | null): StripeBooks {
  const userId = payment?.userId ?? dispute.userId;
  const { chargeId } = dispute;
  const money = dispute.balanceTransactions.flatMap((transaction): MoneyLine[] => [
    {
      key: transaction.id,
      category: "dispute",
      amount: picoOf(transaction.amount, transaction.currency),
      currency: transaction.currency,
      userId,
      chargeId,
      balanceTransactionId: transaction.id,
    },
    ...feeLine(transaction, userId, chargeId),
  ]);
  if (dispute.status !== "lost") return { money, credit: [] };
  const take =
    dispute.amount !== null && dispute.currency !== null && (payment || dispute.currency === "usd")
      ? creditTakenBack(dispute.amount, dispute.currency, payment)
      : withdrawnDollars(dispute);
  return {
    money,
    credit: [{ key: dispute.id, source: "dispute", amount: -take, userId: payment ? payment.userId : dispute.userId }],
  };
}

/** What the dispute's withdrawals took in dollars (a dispute whose own amount is not in dollars). */
const withdrawnDollars = (dispute: StripeDispute) =>
  dispute.balanceTransactions
    .filter((transaction) => transaction.currency === "usd" && transaction.amount < 0)
    .reduce((total, transaction) => total - picoOf(transaction.amount, "usd"), 0n);

export const disputeFamily = (dispute: StripeDispute): StripeFamily => ({
  id: dispute.id,
  categories: ["dispute", "payment_fee"],
  sources: ["dispute"],
  balanceTransactionIds: dispute.balanceTransactions.map((transaction) => transaction.id),
});

/** Books a dispute to match its state (merged with those seen before: see `mergeDispute`), minus what is booked. */
export async function bookStripeDispute(tx: Transaction, dispute: StripeDispute, occurredAt: Date): Promise<void> {
  await lockStripeKeys(tx, [dispute.id, dispute.chargeId, dispute.paymentIntentId]);
  const stored = await loadStripeObject<StripeDispute>(tx, "dispute", dispute.id);
  const state = mergeDispute(stored, dispute);
  await lockStripeKeys(tx, [state.chargeId, state.paymentIntentId]);
  await saveStripeObject(tx, "dispute", state.id, state, {
    chargeId: state.chargeId,
    paymentIntentId: state.paymentIntentId,
  });
  await convergeDispute(tx, state, occurredAt);
}

export async function convergeDispute(tx: Transaction, dispute: StripeDispute, occurredAt: Date) {
  const payment = await paidForOf(tx, dispute);
  await convergeStripeBooks(tx, disputeFamily(dispute), disputeBooks(dispute, payment), occurredAt);
}
