import { bigint, numeric, pgTable, smallint } from "drizzle-orm/pg-core";

const amount = (name: string) => numeric(name, { precision: 30, scale: 12 }).notNull().default("0");
const count = (name: string) => bigint(name, { mode: "number" }).notNull().default(0);

/**
 * Running totals for /api/stats, kept exact by statement-level triggers (the baseline migration)
 * in the same transaction as the rows they count, so the endpoint reads 32 rows however large the
 * tables grow. A trigger adds to one shard row per statement: its transaction's preferred row, or
 * any other that no other transaction holds (`counter_shard()`, with SKIP LOCKED). A writer never
 * waits on a counter row, so a long transaction elsewhere that wrote a counted row stalls nobody.
 * A total is the sum over the shards.
 */
export const statsCounters = pgTable("stats_counters", {
  shard: smallint("shard").primaryKey(),
  users: count("users"),
  tasks: count("tasks"),
  pending: count("pending"),
  processing: count("processing"),
  completed: count("completed"),
  failed: count("failed"),
  // Tokens and cost of the completed tasks.
  tokens: count("tokens"),
  costUsd: amount("cost_usd"),
  incomeUsd: amount("income_usd"),
  expenseUsd: amount("expense_usd"),
});
