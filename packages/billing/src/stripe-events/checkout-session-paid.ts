import { subscriptions, users } from "@aitasks/db";
import { bookStripePayment } from "@aitasks/ledger";
import { and, eq, sql } from "drizzle-orm";
import { CheckoutSessionObject } from "../schemas.js";
import { defineHandler, eventTime, resolveUserId } from "./handler.js";
import { type Settled, settlementOfPaymentIntent } from "./settlement.js";

/**
 * `checkout.session.completed` and `async_payment_succeeded`. Payment mode: the micro-payment,
 * once paid, as Stripe settled it (its payment intent's charge, read from Stripe's API), booked by
 * the ledger with the credit it grants. Subscription mode: the subscription is linked to the user.
 */
export const checkoutSessionPaid = defineHandler<typeof CheckoutSessionObject, Settled | undefined>(
  CheckoutSessionObject,
  async (tx, event, session, { prepared }) => {
    const customerId = session.customer ?? null;
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
      await bookStripePayment(
        tx,
        {
          id: session.payment_intent ?? session.id,
          paymentIntentId: session.payment_intent ?? null,
          chargeId: prepared?.chargeId ?? null,
          amount: session.amount_total,
          currency: session.currency ?? "usd",
          settlement: prepared?.settlement ?? null,
          userId,
        },
        eventTime(event),
      );
    } else if (session.mode === "subscription") {
      const subscriptionId = session.subscription;
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
  },
  // What Stripe settled for a paid payment-mode session (its payment intent's charge).
  async (session, { stripe }) =>
    stripe &&
    session.mode === "payment" &&
    session.payment_status === "paid" &&
    session.amount_total &&
    session.payment_intent
      ? settlementOfPaymentIntent(stripe, session.payment_intent)
      : undefined,
);
