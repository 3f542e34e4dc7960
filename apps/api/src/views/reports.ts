import type {
  ReportFigures as ReportFiguresView,
  Report as ReportView,
  Stats as StatsView,
  UsageGroup as UsageGroupView,
  Usage as UsageView,
} from "@aitasks/contract";
import { amountToNumber, type LedgerCategory } from "@aitasks/db";
import {
  EXPENSE_CATEGORIES,
  INCOME_CATEGORIES,
  type Report,
  type ReportFigures,
  type Stats,
  type Usage,
  type UsageGroup,
} from "@aitasks/reports";

// The report and stats JSON shapes of the API (docs/api.md), built here only: exact amounts become
// JSON numbers at this edge (SPEC), never earlier.

const money = amountToNumber;

function figuresView(figures: ReportFigures): ReportFiguresView {
  // A breakdown field that is no ledger category fails to compile; a category the contract lacks,
  // the serializer would drop (get-report.test.ts asserts whole breakdowns).
  const categories = (names: readonly LedgerCategory[]) =>
    Object.fromEntries(names.map((name) => [name, money(figures.byCategory[name])])) as Record<LedgerCategory, number>;
  return {
    income: money(figures.income),
    expenses: money(figures.expenses),
    profit: money(figures.profit),
    breakdown: {
      income_breakdown: categories(INCOME_CATEGORIES),
      expense_breakdown: categories(EXPENSE_CATEGORIES),
    },
  };
}

const usageView = (usage: Usage): UsageView => ({
  charged: money(usage.charged),
  api_cost: money(usage.apiCost),
  margin: money(usage.margin),
});

const groupView = (group: UsageGroup): UsageGroupView => ({
  key: group.key,
  tasks: group.tasks,
  tokens: group.tokens,
  ...usageView(group),
});

/** GET /api/report/:report_type. `date` is the period's first day. */
export function toReportView(report: Report): ReportView {
  return {
    date: report.start,
    period: report.period,
    start: report.start,
    end: report.end,
    currency: report.currency,
    ...figuresView(report),
    other_currencies: Object.fromEntries(
      Object.entries(report.otherCurrencies).map(([code, figures]) => [code, figuresView(figures)]),
    ),
    usage: usageView(report.usage),
    ...(report.groups ? { groups: report.groups.map(groupView) } : {}),
    generated_at: report.generatedAt ? report.generatedAt.toISOString() : null,
  };
}

/** GET /api/stats. */
export function toStatsView(stats: Stats): StatsView {
  const { tasks, financials } = stats;
  return {
    tasks: {
      total: tasks.total,
      pending: tasks.pending,
      processing: tasks.processing,
      completed: tasks.completed,
      failed: tasks.failed,
      canceled: tasks.canceled,
      total_tokens: tasks.tokens,
      total_cost: money(tasks.cost),
    },
    users: stats.users,
    financials: {
      currency: financials.currency,
      total_income: money(financials.income),
      total_expenses: money(financials.expenses),
      profit: money(financials.profit),
    },
  };
}
