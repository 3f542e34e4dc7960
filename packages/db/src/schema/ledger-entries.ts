import { sql } from "drizzle-orm";
import {
  bigint,
  bigserial,
  check,
  index,
  numeric,
  pgEnum,
  pgTable,
  text,
  timestamp,
  unique,
} from "drizzle-orm/pg-core";
import { providerName, tasks } from "./tasks.js";
import { users } from "./users.js";

export const ledgerKind = pgEnum("ledger_kind", ["income", "expense"]);
// `refund` entries are negative income: what Stripe gave back, booked when it was refunded (and
// positive again when a refund failed or was canceled). `dispute` is what a dispute withdrew
// (negative) or reinstated (positive). `payment_fee` is an expense: Stripe's fee on a payment, a
// refund or a dispute, from the balance transaction that settled it.
export const ledgerCategory = pgEnum("ledger_category", [
  "subscription",
  "micro_payment",
  "refund",
  "api_cost",
  "payment_fee",
  "dispute",
]);
export type LedgerCategory = (typeof ledgerCategory.enumValues)[number];

/**
 * Append-only record of every money movement. The unique keys make a second booking of the same
 * thing impossible: one `api_cost` per provider call (a task's run), one entry per Stripe object
 * and category.
 */
export const ledgerEntries = pgTable(
  "ledger_entries",
  {
    id: bigserial("id", { mode: "number" }).primaryKey(),
    kind: ledgerKind("kind").notNull(),
    category: ledgerCategory("category").notNull(),
    // In `currency`. Reports and stats add the `usd` rows (the reporting currency); rows in any other
    // currency (a payment whose settlement is not known) are reported apart, never added to them.
    amountUsd: numeric("amount_usd", { precision: 24, scale: 12 }).notNull(),
    currency: text("currency").notNull().default("usd"),
    // What the customer paid, in the currency they paid in, when the row books what Stripe settled.
    originalAmount: numeric("original_amount", { precision: 24, scale: 12 }),
    originalCurrency: text("original_currency"),
    // The Stripe balance transaction the amount was taken from (amount and fee in the settlement currency).
    stripeBalanceTransactionId: text("stripe_balance_transaction_id"),
    // When the money moved (task completion, Stripe event), not when the row was written.
    occurredAt: timestamp("occurred_at", { withTimezone: true, precision: 3 }).notNull(),
    userId: bigint("user_id", { mode: "number" }).references(() => users.id),
    taskId: bigint("task_id", { mode: "number" }).references(() => tasks.id),
    // For `api_cost`: the run of the task that made the provider call (its lease owner).
    runId: text("run_id"),
    // For `api_cost`: its task's provider and model (never changed after submission), copied so that
    // usage per model is summed from the ledger alone. Filled from the task when a writer leaves them
    // out (migration 0009's trigger); the check also holds a bulk load done with triggers off to it.
    provider: providerName("provider"),
    model: text("model"),
    stripeObjectId: text("stripe_object_id"),
    // For refunds: the refunded charge, whose refunds are summed to book only what is new.
    stripeChargeId: text("stripe_charge_id"),
    createdAt: timestamp("created_at", { withTimezone: true, precision: 3 }).notNull().defaultNow(),
  },
  (t) => [
    unique("ledger_entries_category_task_id_run_id_key").on(t.category, t.taskId, t.runId),
    unique("ledger_entries_category_stripe_object_id_key").on(t.category, t.stripeObjectId),
    index("ledger_entries_occurred_at_idx").on(t.occurredAt),
    index("ledger_entries_created_at_idx").on(t.createdAt),
    index("ledger_entries_stripe_charge_id_idx").on(t.stripeChargeId),
    check(
      "ledger_entries_api_cost_model_check",
      sql`${t.category} <> 'api_cost' or ${t.taskId} is null or (${t.provider} is not null and ${t.model} is not null)`,
    ),
  ],
);
