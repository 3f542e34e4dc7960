import { ledgerEntries, type Transaction, users } from "@aitasks/db";
import { eq } from "drizzle-orm";
import type Stripe from "stripe";
import type { z } from "zod";
import { describeIssue, type StripeEventEnvelope } from "../schemas.js";

/**
 * One handled event type: the schema of its `data.object` and what it books. `read` validates the
 * object before anything is written, so an unreadable object is recorded as such instead of
 * failing the delivery (a 5xx that Stripe would retry for days).
 */
export interface StripeEventHandler {
  read(
    event: StripeEventEnvelope,
  ): { problem: string } | { apply(tx: Transaction, context: StripeEventContext): Promise<void> };
}

/** What a handler may ask Stripe (undefined without STRIPE_SECRET_KEY: handlers then book what the event says). */
export interface StripeEventContext {
  stripe: Stripe | undefined;
}

export function defineHandler<S extends z.ZodType>(
  object: S,
  apply: (
    tx: Transaction,
    event: StripeEventEnvelope,
    object: z.infer<S>,
    context: StripeEventContext,
  ) => Promise<void>,
): StripeEventHandler {
  return {
    read(event) {
      const parsed = object.safeParse(event.data.object);
      if (!parsed.success) return { problem: describeIssue(parsed.error, "data.object") };
      return { apply: (tx, context) => apply(tx, event, parsed.data, context) };
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

export async function bookIncome(
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
