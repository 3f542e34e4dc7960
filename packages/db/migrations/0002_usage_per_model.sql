-- Usage is rolled up per provider and model, no longer per user: the rows are dropped, and every
-- booked day is marked dirty, so the next rollup writes them again in the new shape.
DELETE FROM "usage_rollups";--> statement-breakpoint
ALTER TABLE "usage_rollups" DROP CONSTRAINT "usage_rollups_period_key";--> statement-breakpoint
ALTER TABLE "usage_rollups" DROP COLUMN "user_id";--> statement-breakpoint
ALTER TABLE "usage_rollups" ADD CONSTRAINT "usage_rollups_period_period_start_provider_model_pk" PRIMARY KEY("period","period_start","provider","model");--> statement-breakpoint
INSERT INTO "report_dirty_days" ("day") SELECT DISTINCT ("occurred_at" AT TIME ZONE 'UTC')::date FROM "ledger_entries";
