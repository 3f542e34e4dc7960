import { type AccessContext, requireAdmin } from "@aitasks/auth";
import { parseAmount, taskStatus } from "@aitasks/db";
import { sql } from "drizzle-orm";
import { REPORTING_CURRENCY } from "./get-report.js";

type TaskStatus = (typeof taskStatus.enumValues)[number];

/** Money, tasks and cost of each of the last `days` days up to `until` (UTC), for charts. */
export interface DailySeries {
  /** The days, oldest first (YYYY-MM-DD). */
  days: string[];
  /** Per day, exact, as of the last rollup. */
  income: bigint[];
  expenses: bigint[];
  profit: bigint[];
  /** Tasks created each day, by their status now. */
  tasksByStatus: Record<TaskStatus, number[]>;
  /** The whole range's usage per model, largest cost first, as of the last rollup. */
  costByModel: { provider: string; model: string; tasks: number; apiCost: bigint; charged: bigint }[];
}

const addDays = (date: string, days: number) => {
  const d = new Date(`${date}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + days);
  return d.toISOString().slice(0, 10);
};

/**
 * The dashboard's charts. Money and cost come from the rollups (what the reports show); tasks per
 * day are counted from the tasks themselves, found by creation time (a BRIN index keeps that cheap).
 */
export async function getDailySeries(
  { db, principal }: AccessContext,
  { until, days }: { until: string; days: number },
): Promise<DailySeries> {
  requireAdmin(principal, "reports");
  const first = addDays(until, 1 - days);
  const dayList = Array.from({ length: days }, (_, index) => addDays(first, index));
  const position = new Map(dayList.map((day, index) => [day, index]));
  const zeros = () => dayList.map(() => 0n);

  const [money, counts, models] = await Promise.all([
    db.execute<{ day: string; kind: string; amount: string }>(sql`
      select period_start::text as day, kind::text as kind, sum(amount_usd)::text as amount
      from report_rollups
      where period = 'daily' and currency = ${REPORTING_CURRENCY} and period_start between ${first} and ${until}
      group by 1, 2`),
    db.execute<{ day: string; status: TaskStatus; tasks: string }>(sql`
      select (created_at at time zone 'UTC')::date::text as day, status, count(*)::text as tasks
      from tasks
      where created_at >= ${first}::date::timestamp at time zone 'UTC'
        and created_at < (${until}::date + 1)::timestamp at time zone 'UTC'
      group by 1, 2`),
    db.execute<{ provider: string; model: string; tasks: string; api_cost: string; charged: string }>(sql`
      select provider::text as provider, model, sum(tasks)::text as tasks,
        sum(api_cost_usd)::text as api_cost, sum(charged_usd)::text as charged
      from usage_rollups
      where period = 'daily' and period_start between ${first} and ${until}
      group by 1, 2
      order by sum(api_cost_usd) desc, 1, 2`),
  ]);

  const income = zeros();
  const expenses = zeros();
  for (const row of money) {
    const index = position.get(row.day);
    if (index === undefined) continue;
    const series = row.kind === "income" ? income : expenses;
    series[index] = (series[index] ?? 0n) + parseAmount(row.amount);
  }
  const tasksByStatus = Object.fromEntries(
    taskStatus.enumValues.map((status) => [status, dayList.map(() => 0)]),
  ) as Record<TaskStatus, number[]>;
  for (const row of counts) {
    const index = position.get(row.day);
    if (index !== undefined) tasksByStatus[row.status][index] = Number(row.tasks);
  }
  return {
    days: dayList,
    income,
    expenses,
    profit: income.map((value, index) => value - (expenses[index] ?? 0n)),
    tasksByStatus,
    costByModel: models.map((row) => ({
      provider: row.provider,
      model: row.model,
      tasks: Number(row.tasks),
      apiCost: parseAmount(row.api_cost),
      charged: parseAmount(row.charged),
    })),
  };
}
