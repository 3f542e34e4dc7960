import { centsToAmount, formatAmount, ledgerEntries, parseAmount } from "@aitasks/db";
import { and, eq, sql } from "drizzle-orm";
import { ChargeObject } from "../schemas.js";
import { bookIncome, defineHandler, eventTime, resolveUserId } from "./handler.js";

/**
 * `charge.refunded`: `amount_refunded` is the charge's running total, so each event books only
 * what is new since the refunds already booked for that charge (serialised per charge). Replays
 * and out-of-order deliveries book nothing, and the total never exceeds what Stripe refunded.
 */
export const chargeRefunded = defineHandler(ChargeObject, async (tx, event, charge) => {
  if (!charge.amount_refunded) return;
  await tx.execute(sql`select pg_advisory_xact_lock(hashtextextended(${charge.id}, 0))`);
  const [booked] = await tx
    .select({ total: sql<string>`coalesce(-sum(${ledgerEntries.amountUsd}), 0)::text` })
    .from(ledgerEntries)
    .where(and(eq(ledgerEntries.category, "refund"), eq(ledgerEntries.stripeChargeId, charge.id)));
  const refundedTotal = parseAmount(centsToAmount(charge.amount_refunded));
  const newlyRefunded = refundedTotal - parseAmount(booked?.total ?? "0");
  if (newlyRefunded <= 0n) return;
  await bookIncome(tx, {
    category: "refund",
    amount: formatAmount(-newlyRefunded),
    currency: charge.currency,
    occurredAt: eventTime(event),
    userId: await resolveUserId(tx, charge.metadata?.user_id, charge.customer),
    stripeObjectId: `${charge.id}/refunded/${charge.amount_refunded}`,
    stripeChargeId: charge.id,
  });
});
