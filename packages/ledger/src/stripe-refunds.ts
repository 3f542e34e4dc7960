import { stripeObjects, type Transaction } from "@aitasks/db";
import { and, eq } from "drizzle-orm";
import { convergeStripeBooks, type MoneyLine, picoOf, type StripeBooks, type StripeFamily } from "./stripe-books.js";
import { loadStripeObject, lockStripeKeys, saveStripeObject } from "./stripe-objects.js";
import { creditTakenBack, type PaidFor, paidForOf } from "./stripe-paid-for.js";
import { feeLine } from "./stripe-payment-books.js";
import {
  isReturned,
  mergeChargeRefunds,
  mergeRefund,
  type StripeChargeRefunds,
  type StripeRefund,
} from "./stripe-state.js";

/**
 * What a refund's state implies, given its payment (null while the payment is not booked). Money:
 * the refund as negative `refund` income, as Stripe settled it (or in the customer's currency while
 * it has no balance transaction: a pending refund); once it failed or was canceled, its reversal,
 * as Stripe's `refund_failure` balance transaction says when there is one (the rate may have moved),
 * else the refund's own amount back. Booked to the payment's user, else to whom the refund's
 * metadata or charge names. Credit: `granted × returned / paid` of the payment taken back from
 * its user, and given back on reversal.
 */
export function refundBooks(refund: StripeRefund, payment: PaidFor | null): StripeBooks {
  const userId = payment?.userId ?? refund.userId;
  const { id, chargeId, settlement } = refund;
  // The failure's transaction reverses the refund's own: without that one (the refund never
  // settled, as far as is known) the reversal is the amount booked, in the same currency.
  const failure = settlement ? refund.failure : null;
  const own = picoOf(refund.amount, refund.currency);
  const taken: MoneyLine = settlement
    ? {
        key: id,
        category: "refund",
        amount: picoOf(settlement.amount, settlement.currency),
        currency: settlement.currency,
        userId,
        chargeId,
        balanceTransactionId: settlement.id,
        original: { amount: -own, currency: refund.currency },
      }
    : { key: id, category: "refund", amount: -own, currency: refund.currency, userId, chargeId };
  const money = [taken, ...(settlement ? feeLine(settlement, userId, chargeId) : [])];
  const creditUser = payment ? payment.userId : refund.userId;
  const take = creditTakenBack(refund.amount, refund.currency, payment);
  const credit = [{ key: id, source: "refund" as const, amount: -take, userId: creditUser }];
  if (isReturned(refund)) {
    money.push(
      failure
        ? {
            key: `${id}/reversed`,
            category: "refund",
            amount: picoOf(failure.amount, failure.currency),
            currency: failure.currency,
            userId,
            chargeId,
            balanceTransactionId: failure.id,
            original: { amount: own, currency: refund.currency },
          }
        : {
            ...taken,
            key: `${id}/reversed`,
            amount: -taken.amount,
            original: taken.original && { ...taken.original, amount: own },
          },
      ...(failure ? feeLine(failure, userId, chargeId) : []),
    );
    credit.push({ key: `${id}/reversed`, source: "refund", amount: take, userId: creditUser });
  }
  return { money, credit };
}

export const refundFamily = (refund: StripeRefund): StripeFamily => ({
  id: refund.id,
  categories: ["refund", "payment_fee"],
  sources: ["refund"],
  balanceTransactionIds: [refund.settlement?.id, refund.failure?.id].filter((id): id is string => Boolean(id)),
});

/**
 * Books a refund to match its state (merged with the states seen before: see `mergeRefund`),
 * minus what is booked for it, whichever event brought it and in whatever order; then the running
 * total of its charge, which the refund now explains in part.
 */
export async function bookStripeRefund(tx: Transaction, refund: StripeRefund, occurredAt: Date): Promise<void> {
  await lockStripeKeys(tx, [refund.id, refund.chargeId, refund.paymentIntentId]);
  const stored = await loadStripeObject<StripeRefund>(tx, "refund", refund.id);
  const state = mergeRefund(stored, refund);
  await lockStripeKeys(tx, [state.chargeId, state.paymentIntentId]);
  await saveStripeObject(tx, "refund", state.id, state, {
    chargeId: state.chargeId,
    paymentIntentId: state.paymentIntentId,
  });
  await convergeRefund(tx, state, occurredAt);
  if (state.chargeId) await convergeChargeRefunds(tx, state.chargeId, occurredAt);
}

/** Books a refund's kept state against what is booked for it (its payment may have been booked since). */
export async function convergeRefund(tx: Transaction, refund: StripeRefund, occurredAt: Date) {
  const payment = await paidForOf(tx, refund);
  await convergeStripeBooks(tx, refundFamily(refund), refundBooks(refund, payment), occurredAt);
}

/**
 * What a charge's running refund total implies beyond the refunds known for that charge (any
 * status: a failed refund left the total, but its amount was in it when a late event was sent):
 * that remainder as refund income in the charge's currency, and its credit taken back.
 */
export function chargeRefundsBooks(
  charge: StripeChargeRefunds,
  knownRefunds: number,
  payment: PaidFor | null,
): StripeBooks {
  const remainder = Math.max(0, charge.amountRefunded - knownRefunds);
  const key = `${charge.id}/refunded/${charge.amountRefunded}`;
  const userId = payment?.userId ?? charge.userId;
  return {
    money: [
      {
        key,
        category: "refund",
        amount: -picoOf(remainder, charge.currency),
        currency: charge.currency,
        userId,
        chargeId: charge.id,
        topsUp: true,
      },
    ],
    credit: [
      {
        key,
        source: "refund",
        amount: -creditTakenBack(remainder, charge.currency, payment),
        userId: payment ? payment.userId : charge.userId,
        topsUp: true,
      },
    ],
  };
}

const chargeFamily = (chargeId: string): StripeFamily => ({
  id: chargeId,
  categories: ["refund"],
  sources: ["refund"],
  balanceTransactionIds: [],
});

/**
 * Books what `charge.refunded` reports: each of the charge's refunds (as `bookStripeRefund`), then
 * its running refund total (as `chargeRefundsBooks` says), all under the charge's lock.
 */
export async function bookStripeChargeRefunds(
  tx: Transaction,
  charge: StripeChargeRefunds,
  refunds: StripeRefund[],
  occurredAt: Date,
): Promise<void> {
  await lockStripeKeys(tx, [
    charge.id,
    charge.paymentIntentId,
    ...refunds.flatMap((refund) => [refund.id, refund.chargeId, refund.paymentIntentId]),
  ]);
  for (const refund of refunds) await bookStripeRefund(tx, refund, occurredAt);
  if (charge.amountRefunded === 0) return;
  const stored = await loadStripeObject<StripeChargeRefunds>(tx, "charge", charge.id);
  const state = mergeChargeRefunds(stored, charge);
  await saveStripeObject(tx, "charge", state.id, state, { chargeId: state.id, paymentIntentId: state.paymentIntentId });
  await convergeChargeRefunds(tx, state.id, occurredAt);
}

/** Books the kept running total of a charge, if one was ever reported, against the refunds known now. */
export async function convergeChargeRefunds(tx: Transaction, chargeId: string, occurredAt: Date) {
  const charge = await loadStripeObject<StripeChargeRefunds>(tx, "charge", chargeId);
  if (!charge) return;
  const refunds = await tx
    .select({ state: stripeObjects.state })
    .from(stripeObjects)
    .where(and(eq(stripeObjects.kind, "refund"), eq(stripeObjects.chargeId, chargeId)));
  const known = refunds
    .map((row) => row.state as StripeRefund)
    .filter((refund) => refund.currency === charge.currency)
    .reduce((total, refund) => total + refund.amount, 0);
  const payment = await paidForOf(tx, { chargeId, paymentIntentId: charge.paymentIntentId });
  await convergeStripeBooks(tx, chargeFamily(chargeId), chargeRefundsBooks(charge, known, payment), occurredAt);
}
