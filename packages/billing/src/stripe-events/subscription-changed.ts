import { subscriptions } from "@aitasks/db";
import { and, or, sql } from "drizzle-orm";
import { SubscriptionObject } from "../schemas.js";
import { defineHandler, eventTime, resolveUserId } from "./handler.js";

/**
 * `customer.subscription.*`: stores the subscription's status and period end as of this event.
 * An event older than the stored state is ignored, so late deliveries cannot roll a subscription
 * back; at the same second, a cancellation stays final.
 */
export const subscriptionChanged = defineHandler(SubscriptionObject, async (tx, event, subscription) => {
  const customerId = subscription.customer ?? null;
  const userId = await resolveUserId(tx, subscription.metadata?.user_id, customerId);
  const status = event.type === "customer.subscription.deleted" ? "canceled" : subscription.status;
  // Since API 2025-03-31 the period lives on the items; older versions have it on the subscription.
  const periodEnds = [
    ...(subscription.items?.data ?? []).map((item) => item.current_period_end),
    subscription.current_period_end,
  ].filter((end): end is number => typeof end === "number" && end > 0);
  const currentPeriodEnd = periodEnds.length > 0 ? new Date(Math.max(...periodEnds) * 1000) : null;
  const stateAt = eventTime(event);
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
