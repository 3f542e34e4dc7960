import { z } from "zod";

export const REPORT_TYPES = ["daily", "weekly", "monthly"] as const;
export type ReportType = (typeof REPORT_TYPES)[number];

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
});
