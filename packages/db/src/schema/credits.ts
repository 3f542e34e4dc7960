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
import { tasks } from "./tasks.js";
import { users } from "./users.js";

const amount = (name: string) => numeric(name, { precision: 24, scale: 12 });
const timestamptz = (name: string) => timestamp(name, { withTimezone: true, precision: 3 });

// Where a movement of credit came from: money (a micro-payment, a subscription invoice), money
// given back (a refund, its reversal, a lost dispute), a task's charge, or an admin's grant.
export const creditSource = pgEnum("credit_source", ["payment", "invoice", "refund", "dispute", "task", "admin"]);

/**
 * Append-only (a trigger refuses updates and deletes): one row per movement of a user's prepaid
 * credit, in USD, positive when granted, negative when taken back or charged. `(source, source_key)`
 * is unique, so however often an event or a run is repeated, a movement is booked once.
 */
export const creditEntries = pgTable(
  "credit_entries",
  {
    id: bigserial("id", { mode: "number" }).primaryKey(),
    userId: bigint("user_id", { mode: "number" })
      .notNull()
      .references(() => users.id),
    source: creditSource("source").notNull(),
    // The Stripe object (payment intent, invoice, refund, dispute), task id or admin grant id.
    sourceKey: text("source_key").notNull(),
    amount: amount("amount").notNull(),
    taskId: bigint("task_id", { mode: "number" }).references(() => tasks.id),
    reason: text("reason"),
    occurredAt: timestamptz("occurred_at").notNull(),
    createdAt: timestamptz("created_at").notNull().defaultNow(),
  },
  (t) => [
    unique("credit_entries_source_source_key_key").on(t.source, t.sourceKey),
    index("credit_entries_user_id_id_idx").on(t.userId, t.id),
    index("credit_entries_occurred_at_idx").on(t.occurredAt),
  ],
);

/**
 * Each user's credit, kept by triggers in the transactions that move it: `balance` is the sum of
 * the user's credit entries, `held` the sum of the holds of the user's unfinished tasks. A hold is
 * taken only by a statement that checks `balance - held` in the same row update, so concurrent
 * submissions cannot hold more than the balance.
 */
export const creditBalances = pgTable(
  "credit_balances",
  {
    userId: bigint("user_id", { mode: "number" })
      .primaryKey()
      .references(() => users.id),
    balance: amount("balance").notNull().default("0"),
    held: amount("held").notNull().default("0"),
  },
  (t) => [check("credit_balances_held_check", sql`${t.held} >= 0`)],
);
