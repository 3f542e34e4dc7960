import type { Principal } from "@aitasks/auth";
import { type Database, users } from "@aitasks/db";
import { ForbiddenError, NotConfiguredError, NotFoundError } from "@aitasks/errors";
import { and, eq, isNull, sql } from "drizzle-orm";
import type Stripe from "stripe";
import { callStripe, requireStripe } from "./stripe-client.js";

export interface CheckoutDeps {
  db: Database;
  stripe: Stripe | undefined;
  checkout: {
    subscriptionPriceId?: string | undefined;
    microPaymentAmountCents: number;
    currency: string;
    publicBaseUrl: string;
  };
}

type UserRow = { id: number; stripeCustomerId: string | null; email: string | null };

const urls = (base: string) => ({
  success_url: `${base.replace(/\/$/, "")}/payment/success?session_id={CHECKOUT_SESSION_ID}`,
  cancel_url: `${base.replace(/\/$/, "")}/payment/cancel`,
});

/**
 * A Checkout Session selling the configured subscription price to the user with this email. The
 * user is the one whose identifier is the lower-cased email: a user key may start it only if that
 * user is its own (an identifier with capitals is another user row, perhaps someone else's).
 */
export async function startSubscriptionCheckout(
  deps: CheckoutDeps & { principal: Principal },
  givenEmail: string,
): Promise<{ checkoutUrl: string }> {
  const email = givenEmail.toLowerCase();
  if (deps.principal.role === "user" && deps.principal.identifier !== email) {
    throw new ForbiddenError("a user API key may only start payments for its own user");
  }
  const stripe = requireStripe(deps.stripe);
  const price = deps.checkout.subscriptionPriceId;
  if (!price)
    throw new NotConfiguredError("subscriptions are not available: STRIPE_SUBSCRIPTION_PRICE_ID is not configured");

  const [user] = await deps.db
    .insert(users)
    .values({ identifier: email, email })
    .onConflictDoUpdate({ target: users.identifier, set: { email: sql`coalesce(${users.email}, excluded.email)` } })
    .returning({ id: users.id, stripeCustomerId: users.stripeCustomerId, email: users.email });
  const customer = await ensureCustomer(deps.db, stripe, user!);
  const metadata = { user_id: String(user!.id) };
  const session = await callStripe(() =>
    stripe.checkout.sessions.create({
      mode: "subscription",
      customer,
      client_reference_id: String(user!.id),
      line_items: [{ price, quantity: 1 }],
      metadata,
      subscription_data: { metadata },
      ...urls(deps.checkout.publicBaseUrl),
    }),
  );
  return { checkoutUrl: requireUrl(session) };
}

/** A one-time Checkout Session for the configured micro-payment amount. */
export async function startMicroPaymentCheckout(
  deps: CheckoutDeps & { principal: Principal },
  input: { user: number | string; description?: string | undefined },
): Promise<{ checkoutUrl: string }> {
  const { principal } = deps;
  if (principal.role === "user" && input.user !== principal.userId && input.user !== principal.identifier) {
    throw new ForbiddenError("a user API key may only start payments for its own user");
  }
  const stripe = requireStripe(deps.stripe);
  const user = await findUser(deps.db, input.user);
  if (!user) throw new NotFoundError(`user ${input.user} not found`);
  const customer = await ensureCustomer(deps.db, stripe, user);
  const description = input.description ?? "AI Task Processing";
  const metadata = { user_id: String(user.id) };
  const session = await callStripe(() =>
    stripe.checkout.sessions.create({
      mode: "payment",
      customer,
      client_reference_id: String(user.id),
      line_items: [
        {
          quantity: 1,
          price_data: {
            currency: deps.checkout.currency,
            unit_amount: deps.checkout.microPaymentAmountCents,
            product_data: { name: description },
          },
        },
      ],
      metadata,
      payment_intent_data: { metadata, description },
      ...urls(deps.checkout.publicBaseUrl),
    }),
  );
  return { checkoutUrl: requireUrl(session) };
}

function requireUrl(session: Stripe.Checkout.Session): string {
  if (!session.url) throw new Error(`Stripe returned checkout session ${session.id} without a url`);
  return session.url;
}

async function findUser(db: Database, ref: number | string): Promise<UserRow | undefined> {
  const columns = { id: users.id, stripeCustomerId: users.stripeCustomerId, email: users.email };
  const where = typeof ref === "number" ? eq(users.id, ref) : eq(users.identifier, ref);
  const [user] = await db.select(columns).from(users).where(where);
  return user;
}

/**
 * The user's Stripe customer, created on first need. The idempotency key makes a retried or
 * concurrent creation return the same customer; the conditional update keeps the first one stored.
 */
async function ensureCustomer(db: Database, stripe: Stripe, user: UserRow): Promise<string> {
  if (user.stripeCustomerId) return user.stripeCustomerId;
  const customer = await callStripe(() =>
    stripe.customers.create(
      { ...(user.email ? { email: user.email } : {}), metadata: { user_id: String(user.id) } },
      { idempotencyKey: `customer-for-user-${user.id}` },
    ),
  );
  const [stored] = await db
    .update(users)
    .set({ stripeCustomerId: customer.id })
    .where(and(eq(users.id, user.id), isNull(users.stripeCustomerId)))
    .returning({ id: users.stripeCustomerId });
  if (stored?.id) return stored.id;
  const [current] = await db.select({ id: users.stripeCustomerId }).from(users).where(eq(users.id, user.id));
  return current?.id ?? customer.id;
}
