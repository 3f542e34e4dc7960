import { bigint, date, integer, numeric, pgTable, primaryKey, text, timestamp } from "drizzle-orm/pg-core";
import { reportPeriod } from "./report-rollups.js";
import { providerName } from "./tasks.js";

/**
 * What tasks used and earned, per period, provider and model, written by the rollup job from the
 * same dirty days as `report_rollups`: tasks completed in the period, their tokens and charges, and
 * every `api_cost` of the period's provider calls. Reports read their `usage`, and their groups by
 * model or provider, from here. Not per user: a row per user and day would be about one per task
 * (a copy of the table to rebuild); a report's groups by user are summed from its period's tasks.
 */
export const usageRollups = pgTable(
  "usage_rollups",
  {
    period: reportPeriod("period").notNull(),
    periodStart: date("period_start", { mode: "string" }).notNull(),
    provider: providerName("provider").notNull(),
    model: text("model").notNull(),
    tasks: integer("tasks").notNull(),
    tokens: bigint("tokens", { mode: "number" }).notNull(),
    apiCostUsd: numeric("api_cost_usd", { precision: 24, scale: 12 }).notNull(),
    chargedUsd: numeric("charged_usd", { precision: 24, scale: 12 }).notNull(),
    generatedAt: timestamp("generated_at", { withTimezone: true, precision: 3 }).notNull(),
  },
  (t) => [primaryKey({ columns: [t.period, t.periodStart, t.provider, t.model] })],
);
