import { type AccessContext, requireAdmin } from "@aitasks/auth";
import { type LedgerCategory, ledgerCategory, parseAmount } from "@aitasks/db";
import { sql } from "drizzle-orm";
import type { ReportType, UsageGrouping } from "./schemas.js";

const day = (date: Date) => date.toISOString().slice(0, 10);

/** First and last day (inclusive) of the UTC period of `type` that contains `date`. */
export function periodOf(type: ReportType, date: string): { start: string; end: string } {
  const d = new Date(`${date}T00:00:00Z`);
  if (type === "daily") return { start: date, end: date };
  if (type === "weekly") {
    const monday = new Date(d);
    monday.setUTCDate(d.getUTCDate() - ((d.getUTCDay() + 6) % 7));
    const sunday = new Date(monday);
    sunday.setUTCDate(monday.getUTCDate() + 6);
    return { start: day(monday), end: day(sunday) };
  }
  const first = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1));
  const last = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 0));
  return { start: day(first), end: day(last) };
}

/** Ledger categories that are expenses; every other category is income. */
export const EXPENSE_CATEGORIES: readonly LedgerCategory[] = ["api_cost", "payment_fee"];
export const INCOME_CATEGORIES = ledgerCategory.enumValues.filter((category) => !EXPENSE_CATEGORIES.includes(category));
/** Reports add amounts of this currency only: the API costs' and, with a Stripe account that settles in it, the income's. */
export const REPORTING_CURRENCY = "usd";

interface Booked {
  kind: string;
  category: LedgerCategory;
  currency: string;
  amount: bigint;
}

/** Income, expenses, profit and the sum of each ledger category, in exact amounts of one currency. */
export interface ReportFigures {
  income: bigint;
  expenses: bigint;
  profit: bigint;
  byCategory: Record<LedgerCategory, bigint>;
}

/** A period's figures as of the last rollup (`generatedAt`, null before the first). */
export interface Report extends ReportFigures {
  period: ReportType;
  start: string;
  end: string;
  currency: string;
  /** Money booked in another currency (a payment whose settlement Stripe's API could not tell), never added to the figures. */
  otherCurrencies: Record<string, ReportFigures>;
  /** What the period's tasks were charged (prepaid credit), what their provider calls cost, and the difference. */
  usage: Usage;
  /**
   * The usage broken down, when asked (`group_by`): largest charge first. By model or provider as
   * of the rollup; by user summed from the period's tasks when asked (the rollup is not per user).
   */
  groups?: UsageGroup[];
  generatedAt: Date | null;
}

export interface Usage {
  charged: bigint;
  apiCost: bigint;
  margin: bigint;
}

export interface UsageGroup extends Usage {
  /** The model, the provider, or the user's identifier (null: tasks without a user). */
  key: string | null;
  tasks: number;
  tokens: number;
}

function figures(rows: Booked[]): ReportFigures {
  const total = (keep: (row: Booked) => boolean) => rows.filter(keep).reduce((sum, row) => sum + row.amount, 0n);
  const income = total((row) => row.kind === "income");
  const expenses = total((row) => row.kind === "expense");
  return {
    income,
    expenses,
    profit: income - expenses,
    byCategory: Object.fromEntries(
      ledgerCategory.enumValues.map((category) => [category, total((row) => row.category === category)]),
    ) as Record<LedgerCategory, bigint>,
  };
}

/**
 * The report of the period of `type` that holds `date`, read from the rollup only. A period with
 * nothing booked, or not rolled up yet, reads as zeros.
 */
export async function getReport(
  { db, principal }: AccessContext,
  type: ReportType,
  date: string = day(new Date()),
  groupBy?: UsageGrouping,
): Promise<Report> {
  requireAdmin(principal, "reports");
  const { start, end } = periodOf(type, date);
  // One round trip: the period's rows (none if nothing was booked) beside the last rollup's time.
  const rows = await db.execute<{
    kind: string | null;
    category: LedgerCategory | null;
    currency: string | null;
    amount: string | null;
    generated_at: string | null;
  }>(sql`
    select r.kind, r.category, r.currency, r.amount_usd::text as amount,
      (select last_finished_at::text from report_rollup_state where id = 1) as generated_at
    from (values (1)) as one
    left join report_rollups r on r.period = ${type} and r.period_start = ${start}`);
  const generatedAt = rows[0]?.generated_at;
  const booked: Booked[] = rows.flatMap((row) =>
    row.category === null
      ? []
      : [
          {
            kind: row.kind ?? "",
            category: row.category,
            currency: row.currency ?? "",
            amount: parseAmount(row.amount ?? "0"),
          },
        ],
  );
  const others = [...new Set(booked.map((row) => row.currency))].filter((code) => code !== REPORTING_CURRENCY).sort();

  const usageRows = await db.execute<{
    key: string | null;
    tasks: string;
    tokens: string;
    api_cost: string;
    charged: string;
  }>(groupBy === "user" ? usageByUser(start, end) : usageFromRollup(type, start, groupBy));
  const groups = usageRows.map((row) => {
    const charged = parseAmount(row.charged);
    const apiCost = parseAmount(row.api_cost);
    return {
      key: row.key,
      tasks: Number(row.tasks),
      tokens: Number(row.tokens),
      charged,
      apiCost,
      margin: charged - apiCost,
    };
  });
  const total = (pick: (group: UsageGroup) => bigint) => groups.reduce((sum, group) => sum + pick(group), 0n);
  const usage = { charged: total((g) => g.charged), apiCost: total((g) => g.apiCost), margin: total((g) => g.margin) };

  return {
    period: type,
    start,
    end,
    currency: REPORTING_CURRENCY,
    ...figures(booked.filter((row) => row.currency === REPORTING_CURRENCY)),
    otherCurrencies: Object.fromEntries(
      others.map((code) => [code, figures(booked.filter((row) => row.currency === code))]),
    ),
    usage,
    ...(groupBy ? { groups: groups.sort(largestChargeFirst) } : {}),
    generatedAt: generatedAt ? new Date(generatedAt) : null,
  };
}

// Without a grouping, one group of everything: its sums are the period's usage.
function usageFromRollup(type: ReportType, start: string, groupBy: "model" | "provider" | undefined) {
  const key = groupBy === "model" ? sql`model` : groupBy === "provider" ? sql`provider::text` : sql`null::text`;
  return sql`
    select ${key} as key, sum(tasks)::text as tasks, sum(tokens)::text as tokens,
      sum(api_cost_usd)::text as api_cost, sum(charged_usd)::text as charged
    from usage_rollups where period = ${type} and period_start = ${start}
    group by 1`;
}

/**
 * The usage of the days `start`…`end` (UTC, inclusive) per user id: tasks completed then and their
 * charges, and the provider calls of those days (by their indexes on time).
 */
export function usageByUserId(start: string, end: string) {
  const from = sql`${start}::date::timestamp at time zone 'UTC'`;
  const to = sql`(${end}::date + 1)::timestamp at time zone 'UTC'`;
  return sql`
    select user_id, sum(tasks) as tasks, sum(tokens) as tokens, sum(api_cost) as api_cost, sum(charged) as charged
    from (
      select user_id, 1 as tasks, coalesce(tokens_used, 0) as tokens, 0::numeric as api_cost,
        coalesce(charged_usd, 0) as charged
      from tasks where status = 'completed' and completed_at >= ${from} and completed_at < ${to}
      union all
      select t.user_id, 0, 0, l.amount_usd, 0
      from ledger_entries l join tasks t on t.id = l.task_id
      where l.category = 'api_cost' and l.currency = 'usd' and l.occurred_at >= ${from} and l.occurred_at < ${to}
    ) as facts
    group by user_id`;
}

/** The period's usage per user identifier (null: tasks without a user). */
function usageByUser(start: string, end: string) {
  return sql`
    select users.identifier as key, sum(tasks)::text as tasks, sum(tokens)::text as tokens,
      sum(api_cost)::text as api_cost, sum(charged)::text as charged
    from (${usageByUserId(start, end)}) as usage
    left join users on users.id = usage.user_id
    group by users.identifier`;
}

const largestChargeFirst = (a: UsageGroup, b: UsageGroup) =>
  a.charged !== b.charged
    ? Number(b.charged - a.charged > 0n) * 2 - 1
    : a.apiCost !== b.apiCost
      ? Number(b.apiCost - a.apiCost > 0n) * 2 - 1
      : String(a.key).localeCompare(String(b.key));
