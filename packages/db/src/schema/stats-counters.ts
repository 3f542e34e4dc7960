import { bigint, numeric, pgTable, smallint } from "drizzle-orm/pg-core";

/*
 * Running totals for /api/stats, kept exact by row-level triggers (migration 0005) in the same
 * transaction as the rows they count, so the endpoint reads a few dozen rows however large the
 * tables grow. Each table is spread over shards, and a trigger writes the shard of its own
 * connection (`pg_backend_pid() % 32`): concurrent writers rarely share a row, and one
 * transaction always takes the same row of each table, in the order users, tasks, ledger, so two
 * transactions never wait on each other in a cycle. A total is the sum over the shards.
 */

const amount = (name: string) => numeric(name, { precision: 30, scale: 12 }).notNull().default("0");
const count = (name: string) => bigint(name, { mode: "number" }).notNull().default(0);

export const userCounters = pgTable("user_counters", {
  shard: smallint("shard").primaryKey(),
  users: count("users"),
});

export const taskCounters = pgTable("task_counters", {
  shard: smallint("shard").primaryKey(),
  total: count("total"),
  pending: count("pending"),
  processing: count("processing"),
  completed: count("completed"),
  failed: count("failed"),
  // Tokens and cost of the completed tasks.
  tokens: count("tokens"),
  costUsd: amount("cost_usd"),
});

export const ledgerCounters = pgTable("ledger_counters", {
  shard: smallint("shard").primaryKey(),
  incomeUsd: amount("income_usd"),
  expenseUsd: amount("expense_usd"),
});
