import { sql } from "drizzle-orm";
import { check, index, jsonb, pgTable, primaryKey, text, timestamp } from "drizzle-orm/pg-core";

/**
 * What we know of each Stripe object whose money we book (packages/ledger: stripe-objects.ts): its
 * state as the most advanced of the states its events and Stripe's API have shown, so the books
 * follow it and an older state arriving late cannot move them back. `charge_id` and
 * `payment_intent_id` link refunds and disputes to the payment they give back. Not a ledger: a
 * row is updated as the object moves on; what was booked stays in the ledgers.
 */
export const stripeObjects = pgTable(
  "stripe_objects",
  {
    // payment (a paid payment intent, or the charge or checkout session that stands for one),
    // invoice, invoice_payment (one payment of an invoice), refund, dispute, charge (a charge's
    // running refund total, as `charge.refunded` reports it).
    kind: text("kind").notNull(),
    id: text("id").notNull(),
    state: jsonb("state").notNull(),
    chargeId: text("charge_id"),
    paymentIntentId: text("payment_intent_id"),
    createdAt: timestamp("created_at", { withTimezone: true, precision: 3 }).notNull().defaultNow(),
    updatedAt: timestamp("updated_at", { withTimezone: true, precision: 3 }).notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ columns: [t.kind, t.id] }),
    index("stripe_objects_charge_id_idx").on(t.chargeId),
    index("stripe_objects_payment_intent_id_idx").on(t.paymentIntentId),
    check(
      "stripe_objects_kind_check",
      sql`${t.kind} in ('payment', 'invoice', 'invoice_payment', 'refund', 'dispute', 'charge')`,
    ),
  ],
);
