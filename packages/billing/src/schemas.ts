import { storableText, UserIdentifier } from "@aitasks/db";
import { z } from "zod";

/**
 * What we read of Stripe's events, validated once where they enter: the envelope by the webhook
 * route (an unreadable one is refused with 400), and the object of each handled type by the
 * dispatcher before its handler runs. Objects are loose: Stripe adds fields in every API version,
 * and only what a handler reads is checked.
 */

/** Seconds since the epoch, within what a JS Date holds. */
const unixSeconds = z.number().int().min(0).max(253_402_300_799);

/** An amount in a currency's smallest unit (cents, yen), as Stripe sends it; `numeric(24,12)` holds it. */
const minorUnits = z.number().int().min(0).max(999_999_999_999);

const currency = z
  .string()
  .regex(/^[A-Za-z]{3}$/, "must be a three-letter currency code")
  .transform((code) => code.toLowerCase());

/** An expandable reference: Stripe sends the id, or the object when it was expanded. */
const reference = z.union([
  z.string().min(1),
  z.looseObject({ id: z.string().min(1) }).transform((object) => object.id),
]);

/** Our own metadata: `user_id` is what checkout put there; anything else is the customer's. */
const metadata = z.looseObject({ user_id: z.string().optional() }).nullish();

// Stripe's ids and event types are printable ASCII; anything else (a NUL, which Postgres cannot
// store) is not an event of Stripe's.
const printable = z
  .string()
  .min(1)
  .max(255)
  .regex(/^[\x21-\x7e]+$/, "must be printable ASCII");

export const StripeEventEnvelope = z.looseObject({
  id: printable,
  type: printable,
  created: unixSeconds,
  data: z.looseObject({ object: z.record(z.string(), z.unknown()) }),
});
export type StripeEventEnvelope = z.infer<typeof StripeEventEnvelope>;

export const CheckoutSessionObject = z.looseObject({
  id: z.string().min(1),
  mode: z.string(),
  payment_status: z.string(),
  amount_total: minorUnits.nullish(),
  currency: currency.nullish(),
  customer: reference.nullish(),
  client_reference_id: z.string().nullish(),
  metadata,
  payment_intent: reference.nullish(),
  subscription: reference.nullish(),
});
export type CheckoutSessionObject = z.infer<typeof CheckoutSessionObject>;

export const InvoiceObject = z.looseObject({
  id: z.string().min(1),
  amount_paid: minorUnits,
  currency,
  customer: reference.nullish(),
  status_transitions: z.looseObject({ paid_at: unixSeconds.nullish() }).nullish(),
  // Since API 2025-03-31 the subscription is under `parent`; before, at the top level.
  parent: z
    .looseObject({
      subscription_details: z.looseObject({ subscription: reference.nullish(), metadata }).nullish(),
    })
    .nullish(),
  subscription: reference.nullish(),
  subscription_details: z.looseObject({ metadata }).nullish(),
});
export type InvoiceObject = z.infer<typeof InvoiceObject>;

export const SubscriptionObject = z.looseObject({
  id: z.string().min(1),
  status: z.string().min(1),
  customer: reference.nullish(),
  metadata,
  cancel_at_period_end: z.boolean().nullish(),
  // Since API 2025-03-31 the period lives on the items; before, on the subscription.
  current_period_end: unixSeconds.nullish(),
  items: z
    .looseObject({
      data: z.array(
        z.looseObject({
          current_period_end: unixSeconds.nullish(),
          price: z.looseObject({ id: z.string() }).nullish(),
        }),
      ),
    })
    .nullish(),
});
export type SubscriptionObject = z.infer<typeof SubscriptionObject>;

/**
 * Where Stripe settled money: the amount and Stripe's fee in the account's settlement currency
 * (`amount` is negative for what left the balance: a refund, a dispute).
 */
export const BalanceTransactionObject = z.looseObject({
  id: z.string().min(1),
  amount: z.number().int().min(-999_999_999_999).max(999_999_999_999),
  fee: z.number().int().min(-999_999_999_999).max(999_999_999_999),
  currency,
});
export type BalanceTransactionObject = z.infer<typeof BalanceTransactionObject>;

/** An expandable balance transaction: its id, or the object itself. */
const balanceTransaction = z.union([z.string().min(1), BalanceTransactionObject]);

export const RefundObject = z.looseObject({
  id: z.string().min(1),
  amount: minorUnits,
  currency,
  charge: reference.nullish(),
  payment_intent: reference.nullish(),
  // pending, requires_action, succeeded: the money left (or is leaving); failed, canceled: it came back.
  status: z.string().nullish(),
  // None while Stripe has not settled the refund (a pending one).
  balance_transaction: balanceTransaction.nullish(),
  // Stripe's `refund_failure` transaction, which gives the money back once the refund failed.
  failure_balance_transaction: balanceTransaction.nullish(),
  metadata,
});
export type RefundObject = z.infer<typeof RefundObject>;

export const ChargeObject = z.looseObject({
  id: z.string().min(1),
  amount_refunded: minorUnits,
  currency,
  customer: reference.nullish(),
  payment_intent: reference.nullish(),
  metadata,
  // Only in older API versions, or when expanded.
  refunds: z.looseObject({ data: z.array(RefundObject), has_more: z.boolean().nullish() }).nullish(),
});
export type ChargeObject = z.infer<typeof ChargeObject>;

export const DisputeObject = z.looseObject({
  id: z.string().min(1),
  charge: reference,
  payment_intent: reference.nullish(),
  status: z.string().nullish(),
  amount: minorUnits.nullish(),
  currency: currency.nullish(),
  // Every movement of the dispute: the withdrawal (amount and the dispute fee), a reinstatement.
  balance_transactions: z.array(BalanceTransactionObject),
  metadata,
});
export type DisputeObject = z.infer<typeof DisputeObject>;

/** An object of Stripe's lists (`GET /v1/refunds?charge=`): one page, with whether more follow. */
export const StripeList = <S extends z.ZodType>(item: S) =>
  z.looseObject({ data: z.array(item), has_more: z.boolean() });

/** The first problem of a failed parse, naming its field: `amount_paid: Invalid input: expected number`. */
export function describeIssue(error: z.ZodError, prefix = ""): string {
  const issue = error.issues[0];
  const path = [prefix, ...(issue?.path ?? []).map(String)].filter(Boolean).join(".");
  const message = issue?.message ?? "invalid";
  return path ? `${path}: ${message}` : message;
}

// Text that Postgres and Stripe's form encoding take exactly as sent (no NUL, no lone surrogate).
export const MicroCheckoutBody = z.object(
  {
    // The numeric user id, or the identifier string the user's tasks carry.
    user_id: z.union([z.number().int().positive().max(Number.MAX_SAFE_INTEGER), UserIdentifier], {
      error: "user_id is required: a numeric user id or the user's identifier",
    }),
    description: storableText("description")
      .min(1, "description must not be empty")
      .max(500, "description must be at most 500 characters")
      .optional(),
  },
  { error: "body must be a JSON object" },
);

export const SubscriptionCheckoutBody = z.object(
  { email: z.email({ error: "email must be a valid email address" }).max(320, "email is too long") },
  { error: "body must be a JSON object" },
);

/** POST /api/users: the user to create, by the identifier its tasks send as `user_id`. */
export const CreateUserBody = z.object({ user_id: UserIdentifier }, { error: "body must be a JSON object" });
export type CreateUserBody = z.infer<typeof CreateUserBody>;
