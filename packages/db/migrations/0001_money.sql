CREATE TYPE "public"."report_period" AS ENUM('daily', 'weekly', 'monthly');--> statement-breakpoint
ALTER TYPE "public"."ledger_category" ADD VALUE 'refund' BEFORE 'api_cost';--> statement-breakpoint
CREATE TABLE "report_rollup_state" (
	"id" smallint PRIMARY KEY DEFAULT 1 NOT NULL,
	"last_started_at" timestamp (3) with time zone NOT NULL,
	"last_finished_at" timestamp (3) with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "report_rollups" (
	"period" "report_period" NOT NULL,
	"period_start" date NOT NULL,
	"kind" "ledger_kind" NOT NULL,
	"category" "ledger_category" NOT NULL,
	"amount_usd" numeric(24, 12) NOT NULL,
	"generated_at" timestamp (3) with time zone NOT NULL,
	CONSTRAINT "report_rollups_period_period_start_kind_category_pk" PRIMARY KEY("period","period_start","kind","category")
);
--> statement-breakpoint
CREATE TABLE "stats_counters" (
	"name" text NOT NULL,
	"shard" smallint NOT NULL,
	"value" numeric(30, 12) DEFAULT '0' NOT NULL,
	CONSTRAINT "stats_counters_name_shard_pk" PRIMARY KEY("name","shard")
);
--> statement-breakpoint
CREATE TABLE "stripe_events" (
	"id" text PRIMARY KEY NOT NULL,
	"type" text NOT NULL,
	"payload" jsonb NOT NULL,
	"created_at" timestamp (3) with time zone NOT NULL,
	"processed_at" timestamp (3) with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "subscriptions" (
	"id" text PRIMARY KEY NOT NULL,
	"user_id" bigint,
	"stripe_customer_id" text,
	"status" text NOT NULL,
	"price_id" text,
	"current_period_end" timestamp (3) with time zone,
	"cancel_at_period_end" boolean DEFAULT false NOT NULL,
	"state_at" timestamp (3) with time zone NOT NULL,
	"created_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp (3) with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "ledger_entries" ADD COLUMN "stripe_charge_id" text;--> statement-breakpoint
ALTER TABLE "users" ADD COLUMN "stripe_customer_id" text;--> statement-breakpoint
ALTER TABLE "subscriptions" ADD CONSTRAINT "subscriptions_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "subscriptions_user_id_idx" ON "subscriptions" USING btree ("user_id");--> statement-breakpoint
CREATE INDEX "subscriptions_active_idx" ON "subscriptions" USING btree ("id") WHERE "subscriptions"."status" in ('active', 'trialing');--> statement-breakpoint
CREATE INDEX "ledger_entries_created_at_idx" ON "ledger_entries" USING btree ("created_at");--> statement-breakpoint
CREATE INDEX "ledger_entries_stripe_charge_id_idx" ON "ledger_entries" USING btree ("stripe_charge_id");--> statement-breakpoint
ALTER TABLE "users" ADD CONSTRAINT "users_stripe_customer_id_unique" UNIQUE("stripe_customer_id");