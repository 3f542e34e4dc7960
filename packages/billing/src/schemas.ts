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

export const StripeEventEnvelope = z.looseObject({
  id: z.string().min(1).max(255),
  type: z.string().min(1).max(255),
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

export const ChargeObject = z.looseObject({
  id: z.string().min(1),
  amount_refunded: minorUnits,
  currency,
  customer: reference.nullish(),
  metadata,
});
export type ChargeObject = z.infer<typeof ChargeObject>;

/** The first problem of a failed parse, naming its field: `amount_paid: Invalid input: expected number`. */
export function describeIssue(error: z.ZodError, prefix = ""): string {
  const issue = error.issues[0];
  const path = [prefix, ...(issue?.path ?? []).map(String)].filter(Boolean).join(".");
  const message = issue?.message ?? "invalid";
  return path ? `${path}: ${message}` : message;
}
