import { creditEntries, formatAmount, ledgerEntries, minAmount, parseAmount, type Transaction } from "@aitasks/db";
import { and, eq, isNotNull, sql } from "drizzle-orm";
import { bookCredit } from "../credits/credit-entry.js";
import type { BalanceTransactionObject, RefundObject } from "../schemas.js";
import { book, bookStripeMoney, creditableUsd, resolveUserId } from "./handler.js";

// Stripe's refund statuses: the money has left or is leaving; or it came back to the balance.
const RETURNED = new Set(["failed", "canceled"]);

/**
 * Books one refund object once, by its id, whichever event brought it (`charge.refunded`,
 * `charge.refund.updated`, `refund.*`) and in whatever order: the refund as negative income (as
 * settled, when its balance transaction is known), and, once it has failed or was canceled, its
 * reversal, the same amount back. A refund first seen failed books both, which net to nothing.
 * The credit it granted is taken back (and given back on reversal) the same way, once each.
 *
 * A `charge.refunded` without its refunds (see charge-refunded.ts) books what is new in the
 * charge's running total under the charge, not under a refund id. A refund object that arrives
 * after such a booking claims it: the part of its amount that the running total already took is
 * booked back (`<refund id>/claimed`), so the charge's refunds are counted once either way.
 */
export async function bookRefund(
  tx: Transaction,
  refund: RefundObject,
  settlement: BalanceTransactionObject | undefined,
  occurredAt: Date,
) {
  const chargeId = refund.charge ?? null;
  if (chargeId) await lockCharge(tx, chargeId);
  const userId = (await resolveUserId(tx, refund.metadata?.user_id, null)) ?? (await userOfCharge(tx, chargeId));
  const refunded = await bookStripeMoney(tx, {
    category: "refund",
    minorUnits: -refund.amount,
    currency: refund.currency,
    settlement,
    occurredAt,
    userId,
    stripeObjectId: refund.id,
    stripeChargeId: chargeId,
  });
  await bookCredit(tx, { userId, source: "refund", sourceKey: refund.id, amount: creditableUsd(refunded), occurredAt });
  if (chargeId) await claimRunningTotal(tx, { refund, chargeId, refunded, userId, occurredAt });
  if (!RETURNED.has(refund.status ?? "")) return;
  const [booked] = await tx
    .select({ amount: ledgerEntries.amountUsd, currency: ledgerEntries.currency })
    .from(ledgerEntries)
    .where(and(eq(ledgerEntries.category, "refund"), eq(ledgerEntries.stripeObjectId, refund.id)));
  if (!booked) return;
  await book(tx, {
    kind: "income",
    category: "refund",
    amountUsd: formatAmount(-parseAmount(booked.amount)),
    currency: booked.currency,
    occurredAt,
    userId,
    stripeObjectId: `${refund.id}/reversed`,
    stripeChargeId: chargeId,
  });
  const [taken] = await tx
    .select({ amount: creditEntries.amount })
    .from(creditEntries)
    .where(and(eq(creditEntries.source, "refund"), eq(creditEntries.sourceKey, refund.id)));
  if (taken) {
    await bookCredit(tx, {
      userId,
      source: "refund",
      sourceKey: `${refund.id}/reversed`,
      amount: formatAmount(-parseAmount(taken.amount)),
      occurredAt,
    });
  }
}

/**
 * Serialises the bookings of one charge's refunds, whichever events bring them: two events that
 * book the same refunds in another order would otherwise wait on each other's rows (a deadlock).
 */
export async function lockCharge(tx: Transaction, chargeId: string) {
  await tx.execute(sql`select pg_advisory_xact_lock(hashtextextended(${chargeId}, 0))`);
}

/** The refund's share of what the charge's running total booked without a refund id, booked back once. */
async function claimRunningTotal(
  tx: Transaction,
  booking: {
    refund: RefundObject;
    chargeId: string;
    refunded: { amount: string; currency: string };
    userId: number | null;
    occurredAt: Date;
  },
) {
  const { refund, chargeId, refunded, userId, occurredAt } = booking;
  const [unclaimed] = await tx.execute<{ amount: string }>(sql`
    select (coalesce(-sum(amount_usd) filter (where starts_with(stripe_object_id, ${`${chargeId}/refunded/`})), 0)
      - coalesce(sum(amount_usd) filter (where stripe_object_id like '%/claimed'), 0))::text as amount
    from ledger_entries
    where category = 'refund' and stripe_charge_id = ${chargeId} and currency = ${refunded.currency}`);
  const share = minAmount(-parseAmount(refunded.amount), parseAmount(unclaimed?.amount ?? "0"));
  if (share <= 0n) return;
  const sourceKey = `${refund.id}/claimed`;
  const amount = formatAmount(share);
  await book(tx, {
    kind: "income",
    category: "refund",
    amountUsd: amount,
    currency: refunded.currency,
    occurredAt,
    userId,
    stripeObjectId: sourceKey,
    stripeChargeId: chargeId,
  });
  await bookCredit(tx, {
    userId,
    source: "refund",
    sourceKey,
    amount: creditableUsd({ amount, currency: refunded.currency }),
    occurredAt,
  });
}

/** The user a charge's payment was booked for. */
export async function userOfCharge(tx: Transaction, chargeId: string | null): Promise<number | null> {
  if (!chargeId) return null;
  const [row] = await tx
    .select({ userId: ledgerEntries.userId })
    .from(ledgerEntries)
    .where(and(eq(ledgerEntries.stripeChargeId, chargeId), isNotNull(ledgerEntries.userId)))
    .limit(1);
  return row?.userId ?? null;
}
