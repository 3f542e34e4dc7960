import { formatAmount, ledgerEntries, minorUnitsToAmount, parseAmount } from "@aitasks/db";
import { and, eq, sql } from "drizzle-orm";
import { bookCredit } from "../credits/credit-entry.js";
import { ChargeObject, RefundObject, StripeList } from "../schemas.js";
import { callStripe } from "../stripe-client.js";
import { book, defineHandler, eventTime, resolveUserId } from "./handler.js";
import { bookRefund, lockCharge } from "./refund-booking.js";

const Refunds = StripeList(RefundObject);

/**
 * `charge.refunded`: each of the charge's refunds, booked once by its id (see `bookRefund`). The
 * refunds come from Stripe's API (with their balance transactions) or, without a Stripe key, from
 * the event when it carries them. An event that carries none, without a key to ask for them, books
 * what is new in the charge's running `amount_refunded` since the refunds booked for it.
 */
export const chargeRefunded = defineHandler<typeof ChargeObject, RefundObject[] | undefined>(
  ChargeObject,
  async (tx, event, charge, { prepared }) => {
    if (!charge.amount_refunded && !prepared?.length) return;
    // Serialised per charge: concurrent deliveries of its events book in turn.
    await lockCharge(tx, charge.id);
    const refunds = prepared ?? charge.refunds?.data;
    if (refunds) {
      for (const refund of refunds) {
        // Expanded by the API's list; an id only (in an event, without a key to ask) books the refund unsettled.
        const transaction = refund.balance_transaction;
        const settlement = transaction && typeof transaction === "object" ? transaction : undefined;
        await bookRefund(tx, { ...refund, charge: refund.charge ?? charge.id }, settlement, eventTime(event));
      }
      return;
    }
    // What the charge's refunds booked so far, failed ones included: Stripe's running total drops
    // when a refund fails, and a late event from before the failure must not book that refund again.
    // (Counting a failed refund may miss a later one if its own refund event never arrives.)
    const [booked] = await tx
      .select({ total: sql<string>`coalesce(-sum(${ledgerEntries.amountUsd}), 0)::text` })
      .from(ledgerEntries)
      .where(
        and(
          eq(ledgerEntries.category, "refund"),
          eq(ledgerEntries.stripeChargeId, charge.id),
          sql`${ledgerEntries.stripeObjectId} not like '%/reversed'`,
        ),
      );
    const newlyRefunded =
      parseAmount(minorUnitsToAmount(charge.amount_refunded, charge.currency)) - parseAmount(booked?.total ?? "0");
    if (newlyRefunded <= 0n) return;
    const userId = await resolveUserId(tx, charge.metadata?.user_id, charge.customer);
    const sourceKey = `${charge.id}/refunded/${charge.amount_refunded}`;
    const amount = formatAmount(-newlyRefunded);
    await book(tx, {
      kind: "income",
      category: "refund",
      amountUsd: amount,
      currency: charge.currency,
      occurredAt: eventTime(event),
      userId,
      stripeObjectId: sourceKey,
      stripeChargeId: charge.id,
    });
    if (charge.currency === "usd") {
      await bookCredit(tx, { userId, source: "refund", sourceKey, amount, occurredAt: eventTime(event) });
    }
  },
  async (charge, { stripe }) => {
    if (!stripe) return undefined;
    const refunds: RefundObject[] = [];
    let startingAfter: string | undefined;
    do {
      const page = await callStripe(() =>
        stripe.refunds.list({
          charge: charge.id,
          limit: 100,
          expand: ["data.balance_transaction"],
          ...(startingAfter ? { starting_after: startingAfter } : {}),
        }),
      );
      const parsed = Refunds.parse(page);
      refunds.push(...parsed.data);
      startingAfter = parsed.has_more ? parsed.data.at(-1)?.id : undefined;
    } while (startingAfter);
    return refunds;
  },
);
