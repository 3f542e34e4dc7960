import { amountToNumber, type Executor, parseAmount } from "@aitasks/db";
import { sql } from "drizzle-orm";

/**
 * Totals for GET /api/stats, read from counters that triggers keep exact in the same transactions
 * as the rows they count (migration 0002): a few dozen rows, however large the tables grow.
 */
export async function getStats(db: Executor) {
  const rows = await db.execute<{ name: string; value: string }>(sql`
    select name, sum(value)::text as value from stats_counters group by name
    union all
    select 'subscriptions_active', count(*)::text from subscriptions where status in ('active', 'trialing')`);
  const counters = new Map(rows.map((row) => [row.name, parseAmount(row.value)]));
  const count = (name: string) => Number((counters.get(name) ?? 0n) / 10n ** 12n);
  const amount = (name: string) => counters.get(name) ?? 0n;
  const income = amount("ledger_income");
  const expenses = amount("ledger_expense");
  return {
    tasks: {
      total: count("tasks_total"),
      pending: count("tasks_pending"),
      processing: count("tasks_processing"),
      completed: count("tasks_completed"),
      failed: count("tasks_failed"),
      total_tokens: count("tasks_tokens"),
      total_cost: amountToNumber(amount("tasks_cost")),
    },
    users: { total: count("users_total"), subscriptions: count("subscriptions_active") },
    financials: {
      total_income: amountToNumber(income),
      total_expenses: amountToNumber(expenses),
      profit: amountToNumber(income - expenses),
    },
  };
}
