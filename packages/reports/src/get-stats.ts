import { type AccessContext, requireAdmin } from "@aitasks/auth";
import { type Database, parseAmount } from "@aitasks/db";
import { sql } from "drizzle-orm";
import { REPORTING_CURRENCY } from "./get-report.js";

// One statement, one round trip: the counters' shards and the deltas not yet folded into them
// summed, the unfinished tasks counted from their partial index, and the active subscriptions.
// Sums come back as text so that amounts stay exact.
const statsQuery = sql`
  select sum(users)::text as users, sum(completed)::text as tasks_completed, sum(failed)::text as tasks_failed,
    sum(canceled)::text as tasks_canceled, sum(tokens)::text as tasks_tokens, sum(cost_usd)::text as tasks_cost,
    sum(income_usd)::text as income, sum(expense_usd)::text as expenses,
    (select count(*) from tasks where status = 'pending')::text as tasks_pending,
    (select count(*) from tasks where status = 'processing')::text as tasks_processing,
    (select count(*) from subscriptions where status in ('active', 'trialing'))::text as subscriptions
  from (
    select users, completed, failed, canceled, tokens, cost_usd, income_usd, expense_usd from stats_counters
    union all
    select users, completed, failed, canceled, tokens, cost_usd, 0, 0 from stats_deltas
  ) as counted`;

/**
 * Totals of tasks, users and money (exact amounts in US dollars: ledger rows of other currencies
 * are not counted), from counters that triggers keep exact in the same transactions as the rows
 * they count (32 rows, and the deltas since the last rollup folded them in), and from the
 * unfinished tasks, the backlog, counted as they are: a read costs what the backlog's size does,
 * and storing a task or claiming it touches no counter (docs/money.md).
 */
export async function getStats({ db, principal }: AccessContext) {
  requireAdmin(principal, "statistics");
  // A sum over no rows (counters truncated) is null: nothing counted yet.
  const [row = {}] = await db.execute<Record<string, string | null>>(statsQuery);
  const count = (column: string) => Number(row[column] ?? 0);
  const amount = (column: string) => parseAmount(row[column] ?? "0");
  const income = amount("income");
  const expenses = amount("expenses");
  const tasks = {
    pending: count("tasks_pending"),
    processing: count("tasks_processing"),
    completed: count("tasks_completed"),
    failed: count("tasks_failed"),
    canceled: count("tasks_canceled"),
  };
  return {
    tasks: {
      total: tasks.pending + tasks.processing + tasks.completed + tasks.failed + tasks.canceled,
      ...tasks,
      tokens: count("tasks_tokens"),
      cost: amount("tasks_cost"),
    },
    users: { total: count("users"), subscriptions: count("subscriptions") },
    financials: { currency: REPORTING_CURRENCY, income, expenses, profit: income - expenses },
  };
}
export type Stats = Awaited<ReturnType<typeof getStats>>;

/**
 * Moves the counted changes waiting in `stats_deltas` into the counters (`fold_stats_deltas()`,
 * one statement), so that /api/stats sums only those written since. The worker runs it after each
 * report rollup; the figures read the same before and after. In a transaction of its own: sent
 * alone in autocommit through PgBouncer 1.18 (no parameters, so postgres.js's simple protocol) it
 * stalled the prepaid tasks of tests/e2e/pgbouncer.test.ts in 3 runs of 5; in a transaction, 0 of 8
 * (not understood yet: docs/scaling.md).
 */
export async function foldStatsDeltas(db: Database) {
  await db.transaction((tx) => tx.execute(sql`select fold_stats_deltas()`));
}
