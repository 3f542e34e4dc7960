import { POSITIVE_ID, type Transaction, users } from "@aitasks/db";
import type { Settlement } from "@aitasks/ledger";
import { eq } from "drizzle-orm";
import type Stripe from "stripe";
import type { z } from "zod";
import { type BalanceTransactionObject, describeIssue, type StripeEventEnvelope } from "../schemas.js";

/** What a handler may ask Stripe (undefined without STRIPE_SECRET_KEY: handlers then book what the event says). */
export interface StripeEventContext {
  stripe: Stripe | undefined;
  /** The credit a paid subscription invoice grants (SUBSCRIPTION_CREDIT_USD); undefined: what it paid. */
  subscriptionCreditUsd: string | undefined;
}

/**
 * One handled event type: the schema of its `data.object`, what it needs from Stripe's API, and
 * what it books. `read` validates the object before anything is written, so an unreadable object
 * is recorded as such instead of failing the delivery (a 5xx that Stripe would retry for days).
 * `prepare` runs before the event's transaction opens, so no transaction waits on Stripe.
 */
export interface StripeEventHandler {
  read(
    event: StripeEventEnvelope,
  ): { problem: string } | { prepare(context: StripeEventContext): Promise<(tx: Transaction) => Promise<void>> };
}

export function defineHandler<S extends z.ZodType, P = undefined>(
  object: S,
  apply: (
    tx: Transaction,
    event: StripeEventEnvelope,
    object: z.infer<S>,
    step: StripeEventContext & { prepared: P },
  ) => Promise<void>,
  prepare?: (object: z.infer<S>, context: StripeEventContext) => Promise<P>,
): StripeEventHandler {
  return {
    read(event) {
      const parsed = object.safeParse(event.data.object);
      if (!parsed.success) return { problem: describeIssue(parsed.error, "data.object") };
      return {
        async prepare(context) {
          const prepared = (prepare ? await prepare(parsed.data, context) : undefined) as P;
          return (tx) => apply(tx, event, parsed.data, { ...context, prepared });
        },
      };
    },
  };
}

export const eventTime = (event: StripeEventEnvelope) => new Date(event.created * 1000);

/** Our user for a Stripe object: by the user id we put in its metadata, else by its customer. */
export async function resolveUserId(
  tx: Transaction,
  reference: string | null | undefined,
  customerId: string | null | undefined,
): Promise<number | null> {
  if (reference && POSITIVE_ID.test(reference)) {
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

/** A balance transaction as the ledger books it (Stripe's object carries much more). */
export const settlementOf = ({ id, amount, fee, currency }: BalanceTransactionObject): Settlement => ({
  id,
  amount,
  fee,
  currency,
});
