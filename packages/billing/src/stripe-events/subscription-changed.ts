import { subscriptions, type Transaction } from "@aitasks/db";
import { UpstreamError } from "@aitasks/errors";
import { and, eq, or, sql } from "drizzle-orm";
import type Stripe from "stripe";
import { SubscriptionObject } from "../schemas.js";
import { callStripe } from "../stripe-client.js";
import { defineHandler, eventTime, resolveUserId } from "./handler.js";

/**
 * `customer.subscription.*`: stores the subscription's status and period end as of this event.
 * An event older than the stored state is ignored, so late deliveries cannot roll a subscription
 * back; at the same second, a cancellation stays final. Two events of the same second that
 * disagree cannot be ordered by `created` (seconds) nor by arrival, so then the subscription is
 * fetched from Stripe and its current state stored.
 */
export const subscriptionChanged = defineHandler(SubscriptionObject, async (tx, event, received, { stripe }) => {
  const stateAt = eventTime(event);
  const subscription = (await currentIfTied(tx, stripe, received, stateAt, event.type)) ?? received;
  const customerId = subscription.customer ?? null;
  const userId = await resolveUserId(tx, subscription.metadata?.user_id, customerId);
  const status = event.type === "customer.subscription.deleted" ? "canceled" : subscription.status;
  // Since API 2025-03-31 the period lives on the items; older versions have it on the subscription.
  const periodEnds = [
    ...(subscription.items?.data ?? []).map((item) => item.current_period_end),
    subscription.current_period_end,
  ].filter((end): end is number => typeof end === "number" && end > 0);
  const currentPeriodEnd = periodEnds.length > 0 ? new Date(Math.max(...periodEnds) * 1000) : null;
  await tx
    .insert(subscriptions)
    .values({
      id: subscription.id,
      userId,
      stripeCustomerId: customerId,
      status,
      priceId: subscription.items?.data[0]?.price?.id ?? null,
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
});

/**
 * Stripe's own view of the subscription when the stored state dates from the same second as this
 * event and says otherwise (the row is locked meanwhile, so concurrent deliveries queue behind).
 * Without a Stripe client the event is applied as the rule above says.
 */
async function currentIfTied(
  tx: Transaction,
  stripe: Stripe | undefined,
  received: SubscriptionObject,
  stateAt: Date,
  type: string,
): Promise<SubscriptionObject | undefined> {
  if (!stripe || type === "customer.subscription.deleted") return undefined;
  const [stored] = await tx
    .select({ status: subscriptions.status, stateAt: subscriptions.stateAt })
    .from(subscriptions)
    .where(eq(subscriptions.id, received.id))
    .for("update");
  if (!stored || stored.stateAt.getTime() !== stateAt.getTime() || stored.status === received.status) return undefined;
  if (stored.status === "canceled") return undefined;
  const current = await callStripe(() => stripe.subscriptions.retrieve(received.id));
  const parsed = SubscriptionObject.safeParse(current);
  if (!parsed.success) throw new UpstreamError(`Stripe sent an unreadable subscription ${received.id}`, true);
  return parsed.data;
}
