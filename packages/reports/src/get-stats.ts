import { type AccessContext, requireAdmin } from "@aitasks/auth";
import { parseAmount } from "@aitasks/db";
import { sql } from "drizzle-orm";
import { REPORTING_CURRENCY } from "./get-report.js";

// One statement, one round trip: the counters' shards summed (stats_counters) and the active
// subscriptions counted. Sums come back as text so that amounts stay exact.
const statsQuery = sql`
  select sum(users)::text as users, sum(tasks)::text as tasks_total, sum(pending)::text as tasks_pending,
    sum(processing)::text as tasks_processing, sum(completed)::text as tasks_completed,
    sum(failed)::text as tasks_failed, sum(tokens)::text as tasks_tokens, sum(cost_usd)::text as tasks_cost,
    sum(income_usd)::text as income, sum(expense_usd)::text as expenses,
    (select count(*) from subscriptions where status in ('active', 'trialing'))::text as subscriptions
  from stats_counters`;

/**
 * Totals of tasks, users and money (exact amounts in US dollars: ledger rows of other currencies
 * are not counted), read from counters that triggers keep exact in the same transactions
 * as the rows they count: 32 small rows, however large the tables grow.
 */
export async function getStats({ db, principal }: AccessContext) {
  requireAdmin(principal, "statistics");
  // A sum over no rows (counters truncated) is null: nothing counted yet.
  const [row = {}] = await db.execute<Record<string, string | null>>(statsQuery);
  const count = (column: string) => Number(row[column] ?? 0);
  const amount = (column: string) => parseAmount(row[column] ?? "0");
  const income = amount("income");
  const expenses = amount("expenses");
  return {
    tasks: {
      total: count("tasks_total"),
      pending: count("tasks_pending"),
      processing: count("tasks_processing"),
      completed: count("tasks_completed"),
      failed: count("tasks_failed"),
      // Not counted apart: every task is in one status, so the counters give it exactly.
      canceled:
        count("tasks_total") -
        count("tasks_pending") -
        count("tasks_processing") -
        count("tasks_completed") -
        count("tasks_failed"),
      tokens: count("tasks_tokens"),
      cost: amount("tasks_cost"),
    },
    users: { total: count("users"), subscriptions: count("subscriptions") },
    financials: { currency: REPORTING_CURRENCY, income, expenses, profit: income - expenses },
  };
}
export type Stats = Awaited<ReturnType<typeof getStats>>;
