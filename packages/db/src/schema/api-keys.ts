import { sql } from "drizzle-orm";
import { bigint, bigserial, check, index, numeric, pgEnum, pgTable, text, timestamp } from "drizzle-orm/pg-core";
import { users } from "./users.js";

/** The period a key's budget counts spend over: UTC days, ISO weeks, calendar months, or all time. */
export const keyBudgetPeriod = pgEnum("key_budget_period", ["day", "week", "month", "total"]);

/**
 * API keys of users. Only the SHA-256 of a key is stored: keys are 256 random bits, so a fast
 * hash is enough, and a leaked table reveals no usable key. `prefix` lets people tell keys apart.
 */
export const apiKeys = pgTable(
  "api_keys",
  {
    id: bigserial("id", { mode: "number" }).primaryKey(),
    userId: bigint("user_id", { mode: "number" })
      .notNull()
      .references(() => users.id),
    keyHash: text("key_hash").notNull().unique(),
    prefix: text("prefix").notNull(),
    createdAt: timestamp("created_at", { withTimezone: true, precision: 3 }).notNull().defaultNow(),
    revokedAt: timestamp("revoked_at", { withTimezone: true, precision: 3 }),
    // The most the key's tasks of one period may spend (USD, charged sale prices plus the holds of
    // unfinished tasks: packages/tasks/src/key-budgets.ts); both null: no budget.
    budgetUsd: numeric("budget_usd", { precision: 24, scale: 12 }),
    budgetPeriod: keyBudgetPeriod("budget_period"),
  },
  (t) => [
    index("api_keys_user_id_idx").on(t.userId).where(sql`${t.revokedAt} is null`),
    check(
      "api_keys_budget_check",
      sql`(${t.budgetUsd} is null) = (${t.budgetPeriod} is null) and (${t.budgetUsd} is null or ${t.budgetUsd} > 0)`,
    ),
  ],
);
