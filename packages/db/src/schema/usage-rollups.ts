import { bigint, date, integer, numeric, pgTable, text, timestamp, unique } from "drizzle-orm/pg-core";
import { reportPeriod } from "./report-rollups.js";
import { providerName } from "./tasks.js";

/**
 * What tasks used and earned, per period, provider, model and user (null: a task without a user),
 * written by the rollup job from the same dirty days as `report_rollups`: tasks completed in the
 * period, their tokens and charges, and every `api_cost` of the period's provider calls. Reports
 * read their `usage` and `groups` from here only.
 */
export const usageRollups = pgTable(
  "usage_rollups",
  {
    period: reportPeriod("period").notNull(),
    periodStart: date("period_start", { mode: "string" }).notNull(),
    provider: providerName("provider").notNull(),
    model: text("model").notNull(),
    userId: bigint("user_id", { mode: "number" }),
    tasks: integer("tasks").notNull(),
    tokens: bigint("tokens", { mode: "number" }).notNull(),
    apiCostUsd: numeric("api_cost_usd", { precision: 24, scale: 12 }).notNull(),
    chargedUsd: numeric("charged_usd", { precision: 24, scale: 12 }).notNull(),
    generatedAt: timestamp("generated_at", { withTimezone: true, precision: 3 }).notNull(),
  },
  (t) => [
    unique("usage_rollups_period_key").on(t.period, t.periodStart, t.provider, t.model, t.userId).nullsNotDistinct(),
  ],
);
