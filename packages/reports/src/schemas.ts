import { z } from "zod";

export const REPORT_TYPES = ["daily", "weekly", "monthly"] as const;
export type ReportType = (typeof REPORT_TYPES)[number];

/** What a report's usage may be broken down by. */
export const USAGE_GROUPINGS = ["model", "provider", "user"] as const;
export type UsageGrouping = (typeof USAGE_GROUPINGS)[number];

export const ReportParams = z.object({
  report_type: z.enum(REPORT_TYPES, { error: "report type must be daily, weekly or monthly" }),
});

export const ReportQuery = z.object({
  date: z
    .string()
    .regex(/^\d{4}-\d{2}-\d{2}$/, "date must be YYYY-MM-DD")
    .refine((date) => {
      const parsed = new Date(`${date}T00:00:00Z`);
      return !Number.isNaN(parsed.getTime()) && parsed.toISOString().startsWith(date);
    }, "date is not a real calendar date")
    // Postgres has no year 0, and a week of 9999-12-31 would end in year 10000 (not YYYY-MM-DD).
    .refine((date) => date >= "0001-01-01" && date <= "9999-12-26", "date must be between 0001-01-01 and 9999-12-26")
    .optional(),
  group_by: z.enum(USAGE_GROUPINGS, { error: "group_by must be model, provider or user" }).optional(),
});
export type ReportQuery = z.infer<typeof ReportQuery>;

/** The longest range the ledger answers in one request, in days (both ends counted): a leap year. */
export const LEDGER_MAX_DAYS = 366;
const DAY_MS = 86_400_000;
const daysIn = (from: string, to: string) =>
  (Date.parse(`${to}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / DAY_MS + 1;
// The reports' day rule: a real calendar date, YYYY-MM-DD, in Postgres's range.
const LedgerDay = ReportQuery.shape.date.unwrap();

/** GET /api/ledger's query: UTC days, both inclusive, each today (UTC) when absent. */
export const LedgerQuery = z
  .object({
    from: LedgerDay.optional(),
    to: LedgerDay.optional(),
    format: z.enum(["json", "csv"], { error: "format must be json or csv" }).optional(),
  })
  .transform(({ from, to, format }) => {
    // Read per request, not at import time: "today" moves.
    const today = new Date().toISOString().slice(0, 10);
    return { from: from ?? today, to: to ?? today, format };
  })
  .refine(({ from, to }) => from <= to, { error: "from must not be after to (each is today when absent)" })
  .refine(({ from, to }) => daysIn(from, to) <= LEDGER_MAX_DAYS, {
    error: `the range from … to is longer than ${LEDGER_MAX_DAYS} days (both ends counted): ask for it in parts`,
  });
export type LedgerQuery = z.infer<typeof LedgerQuery>;

/** The UTC days (inclusive) whose movements the ledger lists. */
export type LedgerRange = Pick<LedgerQuery, "from" | "to">;
