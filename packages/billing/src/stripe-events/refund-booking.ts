import { formatAmount, ledgerEntries, parseAmount, type Transaction } from "@aitasks/db";
import { and, eq, isNotNull } from "drizzle-orm";
import type { BalanceTransactionObject, RefundObject } from "../schemas.js";
import { book, bookStripeMoney, resolveUserId } from "./handler.js";

// Stripe's refund statuses: the money has left or is leaving; or it came back to the balance.
const RETURNED = new Set(["failed", "canceled"]);

/**
 * Books one refund object once, by its id, whichever event brought it (`charge.refunded`,
 * `charge.refund.updated`, `refund.*`) and in whatever order: the refund as negative income (as
 * settled, when its balance transaction is known), and, once it has failed or was canceled, its
 * reversal, the same amount back. A refund first seen failed books both, which net to nothing.
 */
export async function bookRefund(
  tx: Transaction,
  refund: RefundObject,
  settlement: BalanceTransactionObject | undefined,
  occurredAt: Date,
) {
  const chargeId = refund.charge ?? null;
  const userId = (await resolveUserId(tx, refund.metadata?.user_id, null)) ?? (await userOfCharge(tx, chargeId));
  await bookStripeMoney(tx, {
    category: "refund",
    minorUnits: -refund.amount,
    currency: refund.currency,
    settlement,
    occurredAt,
    userId,
    stripeObjectId: refund.id,
    stripeChargeId: chargeId,
  });
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
