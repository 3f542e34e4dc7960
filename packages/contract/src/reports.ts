import { z } from "zod";
import { Count, Day, Money, named, Timestamp } from "./registry.js";

export const ReportType = named("ReportType", z.enum(["daily", "weekly", "monthly"]));
export type ReportType = z.infer<typeof ReportType>;

/** Income, expenses and profit of a period in one currency, and the sum of each ledger category. */
export const ReportFigures = named(
  "ReportFigures",
  z.object({
    income: Money,
    expenses: Money,
    profit: Money,
    breakdown: z.object({
      income_breakdown: z.object({ subscription: Money, micro_payment: Money, refund: Money, dispute: Money }),
      expense_breakdown: z.object({ api_cost: Money, payment_fee: Money }),
    }),
  }),
);
export type ReportFigures = z.infer<typeof ReportFigures>;

/** What completed tasks were charged from credit, what their provider calls cost, and the difference. */
export const Usage = named("Usage", z.object({ charged: Money, api_cost: Money, margin: Money }));
export type Usage = z.infer<typeof Usage>;

export const UsageGroup = named(
  "UsageGroup",
  Usage.extend({
    key: z.string().nullable().describe("the model, the provider or the user's identifier; null: tasks without a user"),
    tasks: Count,
    tokens: Count,
  }),
);
export type UsageGroup = z.infer<typeof UsageGroup>;

/** GET /api/report/{report_type}. */
export const Report = named(
  "Report",
  z.object({
    date: Day.describe("the period's first day"),
    period: ReportType,
    start: Day,
    end: Day.describe("the period's last day"),
    currency: z.string().describe("the currency of the figures: usd"),
    ...ReportFigures.shape,
    other_currencies: z
      .record(z.string(), ReportFigures)
      .describe("money booked in other currencies, per currency, never added to the figures"),
    usage: Usage,
    groups: z.array(UsageGroup).optional().describe("with ?group_by: largest charge first"),
    generated_at: Timestamp.nullable().describe("when the rollup last ran; null: never yet"),
  }),
);
export type Report = z.infer<typeof Report>;

/** GET /api/stats. */
export const Stats = named(
  "Stats",
  z.object({
    tasks: z.object({
      total: Count,
      pending: Count,
      processing: Count,
      completed: Count,
      failed: Count,
      canceled: Count,
      total_tokens: Count,
      total_cost: Money,
    }),
    users: z.object({ total: Count, subscriptions: Count.describe("active or trialing") }),
    financials: z.object({ currency: z.string(), total_income: Money, total_expenses: Money, profit: Money }),
  }),
);
export type Stats = z.infer<typeof Stats>;

/** One movement of money (`book: "money"`) or of prepaid credit (`book: "credit"`). */
export const LedgerEntry = named(
  "LedgerEntry",
  z.object({
    book: z.enum(["money", "credit"]),
    id: Count,
    occurred_at: Timestamp,
    kind: z.enum(["income", "expense", "credit", "debit"]),
    category: z.string().describe("money: the ledger category; credit: its source"),
    amount: Money,
    currency: z.string(),
    user_id: z.string().nullable(),
    task_id: Count.nullable(),
    reference: z.string().nullable(),
    original_amount: Money.nullable(),
    original_currency: z.string().nullable(),
  }),
);
export type LedgerEntry = z.infer<typeof LedgerEntry>;

/** GET /api/ledger as JSON (it is streamed: built as the entries are read). */
export const Ledger = named("Ledger", z.object({ from: Day, to: Day, entries: z.array(LedgerEntry) }));
export type Ledger = z.infer<typeof Ledger>;
