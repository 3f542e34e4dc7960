import { date, numeric, pgEnum, pgTable, primaryKey, smallint, text, timestamp } from "drizzle-orm/pg-core";
import { ledgerCategory, ledgerKind } from "./ledger-entries.js";

export const reportPeriod = pgEnum("report_period", ["daily", "weekly", "monthly"]);

/** Ledger sums per period and category, written by the rollup job; the reports read only this. */
export const reportRollups = pgTable(
  "report_rollups",
  {
    period: reportPeriod("period").notNull(),
    periodStart: date("period_start", { mode: "string" }).notNull(),
    kind: ledgerKind("kind").notNull(),
    category: ledgerCategory("category").notNull(),
    currency: text("currency").notNull().default("usd"),
    amountUsd: numeric("amount_usd", { precision: 24, scale: 12 }).notNull(),
    generatedAt: timestamp("generated_at", { withTimezone: true, precision: 3 }).notNull(),
  },
  (t) => [primaryKey({ columns: [t.period, t.periodStart, t.kind, t.category, t.currency] })],
);

/**
 * The days whose reports are out of date: a trigger on ledger_entries adds the days of every
 * statement's rows in the writing transaction itself, so a day becomes dirty exactly when its
 * rows become visible, however late that transaction commits. The rollup deletes the rows it
 * sees and recomputes their periods in one statement. Insert-only, without a key: no writer
 * ever waits on another's row.
 */
export const reportDirtyDays = pgTable("report_dirty_days", {
  day: date("day", { mode: "string" }).notNull(),
});

/** One row: when the last rollup started, so the next one knows which ledger rows are new. */
export const reportRollupState = pgTable("report_rollup_state", {
  id: smallint("id").primaryKey().default(1),
  lastStartedAt: timestamp("last_started_at", { withTimezone: true, precision: 3 }).notNull(),
  lastFinishedAt: timestamp("last_finished_at", { withTimezone: true, precision: 3 }).notNull(),
});
