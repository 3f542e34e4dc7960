import { bigint, numeric, pgTable, smallint } from "drizzle-orm/pg-core";

const amount = (name: string) => numeric(name, { precision: 30, scale: 12 }).notNull().default("0");
const count = (name: string) => bigint(name, { mode: "number" }).notNull().default(0);

/** What users and finished tasks count for: the columns the counters and their deltas share. */
const rowCounts = () => ({
  users: count("users"),
  completed: count("completed"),
  failed: count("failed"),
  canceled: count("canceled"),
  // Tokens and cost of the completed tasks.
  tokens: count("tokens"),
  costUsd: amount("cost_usd"),
});

/**
 * Running totals for /api/stats, exact in the same transaction as the rows they count, so the
 * endpoint reads 32 rows however large the tables grow. Ledger amounts are added by
 * statement-level triggers; finished tasks and users by row triggers (migration 0011) through
 * `stats_deltas`, which the worker folds in after each report rollup. The unfinished tasks are not counted here:
 * they are the backlog, counted from their partial index when read, so storing a task and claiming
 * it write no counter at all. A writer adds to its transaction's preferred shard row, or any other
 * that no other transaction holds (`counter_shard()`, with SKIP LOCKED): it never waits on a counter
 * row, so a long transaction elsewhere that wrote a counted row stalls nobody. A total is the sum
 * over the shards and the deltas.
 */
export const statsCounters = pgTable("stats_counters", {
  shard: smallint("shard").primaryKey(),
  ...rowCounts(),
  incomeUsd: amount("income_usd"),
  expenseUsd: amount("expense_usd"),
});

/**
 * What the row triggers on `users` and `tasks` have counted since the last fold: a row per counted
 * change, insert-only and without a key, so writers never wait on each other or grow a row's
 * version chain (a statement that finishes 10,000 tasks writes 10,000 small rows, not 10,000
 * versions of one). The worker folds them into `stats_counters` after each report rollup (`foldStatsDeltas`);
 * /api/stats sums both.
 */
export const statsDeltas = pgTable("stats_deltas", rowCounts());
