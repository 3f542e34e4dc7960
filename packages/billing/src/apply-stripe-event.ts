import {
  centsToAmount,
  type Database,
  formatAmount,
  ledgerEntries,
  parseAmount,
  stripeEvents,
  subscriptions,
  type Transaction,
  users,
} from "@aitasks/db";
import { and, eq, or, sql } from "drizzle-orm";
import type Stripe from "stripe";

export type EventOutcome = "applied" | "duplicate" | "ignored";

type Handler = (tx: Transaction, event: Stripe.Event) => Promise<void>;

/**
 * Applies one verified Stripe event, at most once whatever the number and order of deliveries:
 * the event id is inserted first, in the same transaction as what the event books. A concurrent
 * duplicate waits on that row and then finds it; a failed attempt rolls back both.
 */
export async function applyStripeEvent(db: Database, event: Stripe.Event): Promise<EventOutcome> {
  return db.transaction(async (tx) => {
    const inserted = await tx
      .insert(stripeEvents)
      .values({ id: event.id, type: event.type, payload: jsonbSafe(event), createdAt: eventTime(event) })
      .onConflictDoNothing()
      .returning({ id: stripeEvents.id });
    if (inserted.length === 0) return "duplicate";
    const handler = handlers.get(event.type);
    if (!handler) return "ignored";
    await handler(tx, event);
    return "applied";
  });
}

const eventTime = (event: Stripe.Event) => new Date(event.created * 1000);

// jsonb cannot hold U+0000 nor an unpaired surrogate: Postgres would refuse the whole event (a 500
// that Stripe retries for days, then drops with what the event books). Customer-typed text such as
// a name or a description may carry them. The stored payload is a record only, so there they become
// U+FFFD; the event itself is applied as it was sent.
const LONE_SURROGATES = /[\uD800-\uDFFF]/gu;
function jsonbSafe(value: unknown): unknown {
  if (typeof value === "string") return value.replaceAll("\u0000", "\uFFFD").replace(LONE_SURROGATES, "\uFFFD");
  if (Array.isArray(value)) return value.map(jsonbSafe);
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [jsonbSafe(key), jsonbSafe(item)]));
  }
  return value;
}

const idOf = (ref: string | { id: string } | null | undefined) => (typeof ref === "string" ? ref : (ref?.id ?? null));

/** Our user for a Stripe object: by the user id we put in its metadata, else by its customer. */
async function resolveUserId(
  tx: Transaction,
  reference: string | null | undefined,
  customerId: string | null,
): Promise<number | null> {
  if (reference && /^[1-9]\d{0,14}$/.test(reference)) {
    const [user] = await tx
      .select({ id: users.id })
      .from(users)
      .where(eq(users.id, Number(reference)));
    if (user) return user.id;
  }
  if (customerId) {
    const [user] = await tx.select({ id: users.id }).from(users).where(eq(users.stripeCustomerId, customerId));
    if (user) return user.id;
  }
  return null;
}

async function bookIncome(
  tx: Transaction,
  entry: {
    category: "subscription" | "micro_payment" | "refund";
    amount: string;
    currency: string;
    occurredAt: Date;
    userId: number | null;
    stripeObjectId: string;
    stripeChargeId?: string;
  },
) {
  await tx
    .insert(ledgerEntries)
    .values({ kind: "income", ...entry, amountUsd: entry.amount })
    .onConflictDoNothing({ target: [ledgerEntries.category, ledgerEntries.stripeObjectId] });
}

/** Payment mode: the micro-payment is income once paid. Subscription mode: the subscription is linked to the user. */
const checkoutSessionPaid: Handler = async (tx, event) => {
  const session = event.data.object as Stripe.Checkout.Session;
  const customerId = idOf(session.customer);
  const userId = await resolveUserId(tx, session.metadata?.user_id ?? session.client_reference_id, customerId);
  if (userId && customerId) {
    await tx
      .update(users)
      .set({ stripeCustomerId: customerId })
      // A customer already linked to another user stays there: the unique key would fail the event forever.
      .where(
        and(
          eq(users.id, userId),
          sql`${users.stripeCustomerId} is null`,
          sql`not exists (select 1 from users other where other.stripe_customer_id = ${customerId})`,
        ),
      );
  }
  if (session.mode === "payment") {
    // Delayed payment methods complete the session unpaid; `async_payment_succeeded` books them later.
    if (session.payment_status !== "paid" || !session.amount_total) return;
    await bookIncome(tx, {
      category: "micro_payment",
      amount: centsToAmount(session.amount_total),
      currency: session.currency ?? "usd",
      occurredAt: eventTime(event),
      userId,
      stripeObjectId: idOf(session.payment_intent) ?? session.id,
    });
  } else if (session.mode === "subscription") {
    const subscriptionId = idOf(session.subscription);
    if (!subscriptionId) return;
    // Income comes from invoice.paid (the first invoice too), never from the session, so it is counted once.
    // The status stays whatever the subscription's own events said; a new row waits for them.
    await tx
      .insert(subscriptions)
      .values({
        id: subscriptionId,
        userId,
        stripeCustomerId: customerId,
        status: session.payment_status === "paid" ? "active" : "incomplete",
        stateAt: new Date(0),
      })
      .onConflictDoUpdate({
        target: subscriptions.id,
        set: {
          userId: sql`coalesce(${subscriptions.userId}, excluded.user_id)`,
          stripeCustomerId: sql`coalesce(${subscriptions.stripeCustomerId}, excluded.stripe_customer_id)`,
          updatedAt: sql`now()`,
        },
      });
  }
};

/** Each paid invoice of a subscription is income once. */
const invoicePaid: Handler = async (tx, event) => {
  const invoice = event.data.object as Stripe.Invoice;
  if (!invoice.amount_paid || !invoice.id) return;
  const details = invoice.parent?.subscription_details;
  const subscriptionId = idOf(details?.subscription);
  const customerId = idOf(invoice.customer);
  let userId: number | null = null;
  if (subscriptionId) {
    const [subscription] = await tx
      .select({ userId: subscriptions.userId })
      .from(subscriptions)
      .where(eq(subscriptions.id, subscriptionId));
    userId = subscription?.userId ?? null;
  }
  userId ??= await resolveUserId(tx, details?.metadata?.user_id, customerId);
  const paidAt = invoice.status_transitions?.paid_at;
  await bookIncome(tx, {
    category: "subscription",
    amount: centsToAmount(invoice.amount_paid),
    currency: invoice.currency,
    occurredAt: paidAt ? new Date(paidAt * 1000) : eventTime(event),
    userId,
    stripeObjectId: invoice.id,
  });
};

/**
 * Stores the subscription's status and period end as of this event. An event older than the
 * stored state is ignored, so late deliveries cannot roll a subscription back; at the same
 * second, a cancellation stays final.
 */
const subscriptionChanged: Handler = async (tx, event) => {
  const subscription = event.data.object as Stripe.Subscription;
  const customerId = idOf(subscription.customer);
  const userId = await resolveUserId(tx, subscription.metadata?.user_id, customerId);
  const status = event.type === "customer.subscription.deleted" ? "canceled" : subscription.status;
  // Since API 2025-03-31 the period lives on the items.
  const periodEnds = subscription.items?.data?.map((item) => item.current_period_end).filter(Boolean) ?? [];
  const currentPeriodEnd = periodEnds.length > 0 ? new Date(Math.max(...periodEnds) * 1000) : null;
  const stateAt = eventTime(event);
  await tx
    .insert(subscriptions)
    .values({
      id: subscription.id,
      userId,
      stripeCustomerId: customerId,
      status,
      priceId: subscription.items?.data?.[0]?.price?.id ?? null,
      currentPeriodEnd,
      cancelAtPeriodEnd: subscription.cancel_at_period_end ?? false,
      stateAt,
    })
    .onConflictDoUpdate({
      target: subscriptions.id,
      set: {
        status: sql`excluded.status`,
        priceId: sql`coalesce(excluded.price_id, ${subscriptions.priceId})`,
        currentPeriodEnd: sql`excluded.current_period_end`,
        cancelAtPeriodEnd: sql`excluded.cancel_at_period_end`,
        stateAt: sql`excluded.state_at`,
        userId: sql`coalesce(${subscriptions.userId}, excluded.user_id)`,
        stripeCustomerId: sql`coalesce(${subscriptions.stripeCustomerId}, excluded.stripe_customer_id)`,
        updatedAt: sql`now()`,
      },
      setWhere: or(
        sql`${subscriptions.stateAt} < excluded.state_at`,
        and(sql`${subscriptions.stateAt} = excluded.state_at`, sql`${subscriptions.status} <> 'canceled'`),
      ),
    });
};

/**
 * `amount_refunded` is the charge's running total, so each event books only what is new since
 * the refunds already booked for that charge (serialised per charge). Replays and out-of-order
 * deliveries book nothing, and the total never exceeds what Stripe refunded.
 */
const chargeRefunded: Handler = async (tx, event) => {
  const charge = event.data.object as Stripe.Charge;
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
    userId: await resolveUserId(tx, charge.metadata?.user_id, idOf(charge.customer)),
    stripeObjectId: `${charge.id}/refunded/${charge.amount_refunded}`,
    stripeChargeId: charge.id,
  });
};

// A Map, not an object: an event type such as "__proto__" or "toString" must find no handler.
const handlers = new Map<string, Handler>([
  ["checkout.session.completed", checkoutSessionPaid],
  ["checkout.session.async_payment_succeeded", checkoutSessionPaid],
  ["invoice.paid", invoicePaid],
  ["customer.subscription.created", subscriptionChanged],
  ["customer.subscription.updated", subscriptionChanged],
  ["customer.subscription.deleted", subscriptionChanged],
  ["charge.refunded", chargeRefunded],
]);

export const HANDLED_STRIPE_EVENTS = [...handlers.keys()];
