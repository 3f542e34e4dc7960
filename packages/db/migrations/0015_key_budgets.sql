-- Key budgets: an API key may carry a budget (an amount per UTC day, ISO week, calendar month or all
-- time), and each task records the user key it was submitted with, what it holds on that key's
-- budget while unfinished and what it spent once completed (packages/ledger/src/key-budgets.ts).
-- Tasks stored before this migration have no key: they count against no budget.
CREATE TYPE "public"."key_budget_period" AS ENUM('day', 'week', 'month', 'total');--> statement-breakpoint
ALTER TABLE "api_keys" ADD COLUMN "budget_usd" numeric(24, 12);--> statement-breakpoint
ALTER TABLE "api_keys" ADD COLUMN "budget_period" "key_budget_period";--> statement-breakpoint
ALTER TABLE "tasks" ADD COLUMN "api_key_id" bigint;--> statement-breakpoint
ALTER TABLE "tasks" ADD COLUMN "key_hold_usd" numeric(24, 12);--> statement-breakpoint
ALTER TABLE "tasks" ADD COLUMN "key_spent_usd" numeric(24, 12);--> statement-breakpoint
ALTER TABLE "tasks" ADD CONSTRAINT "tasks_api_key_id_api_keys_id_fk" FOREIGN KEY ("api_key_id") REFERENCES "public"."api_keys"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "tasks_api_key_id_created_at_idx" ON "tasks" USING btree ("api_key_id","created_at") WHERE "tasks"."api_key_id" is not null;--> statement-breakpoint
ALTER TABLE "api_keys" ADD CONSTRAINT "api_keys_budget_check" CHECK (("api_keys"."budget_usd" is null) = ("api_keys"."budget_period" is null) and ("api_keys"."budget_usd" is null or "api_keys"."budget_usd" > 0));