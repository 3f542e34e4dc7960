import { ledgerEntries, minorUnitsToAmount, POSITIVE_ID, type Transaction, users } from "@aitasks/db";
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

type LedgerRow = typeof ledgerEntries.$inferInsert;

/** One ledger row, once: a second booking of the same category and Stripe object is a no-op. */
export async function book(tx: Transaction, row: Omit<LedgerRow, "id" | "createdAt">) {
  await tx
    .insert(ledgerEntries)
    .values(row)
    .onConflictDoNothing({ target: [ledgerEntries.category, ledgerEntries.stripeObjectId] });
}

/**
 * Money that Stripe moved for a payment, a refund or a dispute. With its balance transaction: the
 * amount Stripe settled, in the settlement currency, with what the customer paid kept beside it,
 * and Stripe's fee as a `payment_fee` expense (booked once per balance transaction), so that profit
 * is what the business kept. Without one: the amount in its own currency, with that currency's
 * exponent (reports add only their own currency's rows and show the others apart).
 */
export async function bookStripeMoney(
  tx: Transaction,
  entry: {
    category: "subscription" | "micro_payment" | "refund" | "dispute";
    /** In `currency`'s smallest unit, signed: negative for money that left. */
    minorUnits: number;
    currency: string;
    settlement: BalanceTransactionObject | undefined;
    occurredAt: Date;
    userId: number | null;
    stripeObjectId: string;
    stripeChargeId?: string | null;
  },
): Promise<{ amount: string; currency: string }> {
  const { settlement, minorUnits, currency, ...rest } = entry;
  const own = minorUnitsToAmount(minorUnits, currency);
  const booked = settlement
    ? { amount: minorUnitsToAmount(settlement.amount, settlement.currency), currency: settlement.currency }
    : { amount: own, currency };
  await book(tx, {
    kind: "income",
    ...rest,
    amountUsd: booked.amount,
    currency: booked.currency,
    ...(settlement
      ? { originalAmount: own, originalCurrency: currency, stripeBalanceTransactionId: settlement.id }
      : {}),
  });
  if (settlement && settlement.fee !== 0) {
    await book(tx, {
      kind: "expense",
      category: "payment_fee",
      amountUsd: minorUnitsToAmount(settlement.fee, settlement.currency),
      currency: settlement.currency,
      occurredAt: entry.occurredAt,
      userId: entry.userId,
      stripeObjectId: settlement.id,
      stripeChargeId: entry.stripeChargeId ?? null,
      stripeBalanceTransactionId: settlement.id,
    });
  }
  return booked;
}

/** Credit is in US dollars: money booked in another currency (its settlement unknown) grants none. */
export const creditableUsd = (booked: { amount: string; currency: string }) =>
  booked.currency === "usd" ? booked.amount : "0";
