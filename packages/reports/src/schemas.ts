import { z } from "zod";

const REPORT_TYPES = ["daily", "weekly", "monthly"] as const;
export type ReportType = (typeof REPORT_TYPES)[number];

/** What a report's usage may be broken down by. */
const USAGE_GROUPINGS = ["model", "provider", "user"] as const;
export type UsageGrouping = (typeof USAGE_GROUPINGS)[number];

export const ReportParams = z.object({
  report_type: z.enum(REPORT_TYPES, { error: "report type must be daily, weekly or monthly" }),
});

/**
 * The first and the last day the reports, the ledger and the dashboard answer for (UTC). Nothing is
 * booked before the Unix epoch (Stripe's times start there, ours are `now()`), and JS dates of years
 * 0 to 99 are read as 1900 to 1999; the last is the last Sunday of 9999, so that every derived
 * period (the ISO week of a day, its month, the dashboard's 30 days up to it) is a YYYY-MM-DD
 * Postgres and JS both read.
 */
export const FIRST_DAY = "1970-01-01";
export const LAST_DAY = "9999-12-26";

/** A UTC day, YYYY-MM-DD, real on the calendar and from FIRST_DAY to LAST_DAY. */
export const reportDay = (field: string) =>
  z
    .string({ error: `${field} must be a date, YYYY-MM-DD` })
    .regex(/^\d{4}-\d{2}-\d{2}$/, `${field} must be a date, YYYY-MM-DD`)
    .refine((date) => {
      const parsed = new Date(`${date}T00:00:00Z`);
      return !Number.isNaN(parsed.getTime()) && parsed.toISOString().startsWith(date);
    }, `${field} is not a real calendar date`)
    .refine((date) => date >= FIRST_DAY && date <= LAST_DAY, `${field} must be a day from ${FIRST_DAY} to ${LAST_DAY}`)
    .describe(`a UTC day, YYYY-MM-DD, from ${FIRST_DAY} to ${LAST_DAY}`);

export const ReportQuery = z.object({
  date: reportDay("date").optional(),
  group_by: z.enum(USAGE_GROUPINGS, { error: "group_by must be model, provider or user" }).optional(),
});
export type ReportQuery = z.infer<typeof ReportQuery>;

/** The longest range the ledger answers in one request, in days (both ends counted): a leap year. */
const LEDGER_MAX_DAYS = 366;
const DAY_MS = 86_400_000;
const daysIn = (from: string, to: string) =>
  (Date.parse(`${to}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / DAY_MS + 1;

/** GET /api/ledger's query: UTC days, both inclusive, each today (UTC) when absent. */
export const LedgerQuery = z
  .object({
    from: reportDay("from").optional(),
    to: reportDay("to").optional(),
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
