import { type Database, stripeEvents, type Transaction } from "@aitasks/db";
import { eq } from "drizzle-orm";
import type { StripeEventEnvelope } from "../schemas.js";
import { MissingStripeObjectError } from "../stripe-client.js";
import { chargeRefunded } from "./charge-refunded.js";
import { checkoutSessionPaid } from "./checkout-session-paid.js";
import { disputeFundsMoved } from "./dispute-funds-moved.js";
import type { StripeEventContext, StripeEventHandler } from "./handler.js";
import { eventTime } from "./handler.js";
import { invoicePaid } from "./invoice-paid.js";
import { refundChanged } from "./refund-changed.js";
import { subscriptionChanged } from "./subscription-changed.js";

// A Map, not an object: an event type such as "__proto__" or "toString" must find no handler.
const handlers = new Map<string, StripeEventHandler>([
  ["checkout.session.completed", checkoutSessionPaid],
  ["checkout.session.async_payment_succeeded", checkoutSessionPaid],
  ["invoice.paid", invoicePaid],
  ["customer.subscription.created", subscriptionChanged],
  ["customer.subscription.updated", subscriptionChanged],
  ["customer.subscription.deleted", subscriptionChanged],
  ["charge.refunded", chargeRefunded],
  ["charge.refund.updated", refundChanged],
  ["refund.created", refundChanged],
  ["refund.updated", refundChanged],
  ["refund.failed", refundChanged],
  ["charge.dispute.created", disputeFundsMoved],
  ["charge.dispute.funds_withdrawn", disputeFundsMoved],
  ["charge.dispute.funds_reinstated", disputeFundsMoved],
  ["charge.dispute.closed", disputeFundsMoved],
]);

export const HANDLED_STRIPE_EVENTS = [...handlers.keys()];

/**
 * `applied`; `duplicate` (already recorded); `ignored` (a type we do not handle); `unreadable`
 * (a handled type whose object lacks what its handler needs, or that Stripe's API says does not
 * exist: recorded with the problem, nothing booked).
 */
export type EventOutcome =
  | { outcome: "applied" | "duplicate" | "ignored" }
  | { outcome: "unreadable"; problem: string };

/**
 * Applies one verified Stripe event, at most once whatever the number and order of deliveries:
 * the event id is inserted first, in the same transaction as what the event books. A concurrent
 * duplicate waits on that row and then finds it; a failed attempt rolls back both.
 */
export async function applyStripeEvent(
  { db, ...context }: { db: Database } & StripeEventContext,
  event: StripeEventEnvelope,
): Promise<EventOutcome> {
  const handler = handlers.get(event.type);
  const read = handler?.read(event);
  let problem = read && "problem" in read ? read.problem : null;
  // What the handler needs from Stripe's API, asked before the transaction opens (and not at all
  // for an event already applied: Stripe redelivers until it has our 200).
  let apply: ((tx: Transaction) => Promise<void>) | undefined;
  if (read && "prepare" in read) {
    const [known] = await db.select({ id: stripeEvents.id }).from(stripeEvents).where(eq(stripeEvents.id, event.id));
    if (known) return { outcome: "duplicate" };
    try {
      apply = await read.prepare(context);
    } catch (error) {
      if (!(error instanceof MissingStripeObjectError)) throw error;
      problem = error.message;
    }
  }
  return db.transaction(async (tx) => {
    const inserted = await tx
      .insert(stripeEvents)
      .values({ id: event.id, type: event.type, payload: jsonbSafe(event), createdAt: eventTime(event), problem })
      .onConflictDoNothing()
      .returning({ id: stripeEvents.id });
    if (inserted.length === 0) return { outcome: "duplicate" };
    if (!read) return { outcome: "ignored" };
    if (problem !== null) return { outcome: "unreadable", problem };
    await apply?.(tx);
    return { outcome: "applied" };
  });
}

// jsonb cannot hold U+0000 nor an unpaired surrogate, and Postgres's parser gives up on arrays
// nested a few thousand deep (stack depth limit): it would refuse the whole event (a 500 that
// Stripe retries for days, then drops with what the event books). Customer-typed text such as a
// name or a description may carry such characters. The stored payload is a record only, so there
// they become U+FFFD and anything nested deeper than Stripe ever nests becomes a marker; the event
// itself is applied as it was sent.
const LONE_SURROGATES = /[\uD800-\uDFFF]/gu;
const MAX_STORED_DEPTH = 64;
function jsonbSafe(value: unknown, depth = 0): unknown {
  if (typeof value === "string") return value.replaceAll("\u0000", "\uFFFD").replace(LONE_SURROGATES, "\uFFFD");
  if (value === null || typeof value !== "object") return value;
  if (depth >= MAX_STORED_DEPTH) return "\uFFFD(nested too deep to store)";
  if (Array.isArray(value)) return value.map((item) => jsonbSafe(item, depth + 1));
  return Object.fromEntries(Object.entries(value).map(([key, item]) => [jsonbSafe(key), jsonbSafe(item, depth + 1)]));
}
