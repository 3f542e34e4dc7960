CREATE TYPE "public"."ledger_category" AS ENUM('subscription', 'micro_payment', 'api_cost');--> statement-breakpoint
CREATE TYPE "public"."ledger_kind" AS ENUM('income', 'expense');--> statement-breakpoint
CREATE TYPE "public"."provider_name" AS ENUM('openai', 'mistral');--> statement-breakpoint
CREATE TYPE "public"."task_status" AS ENUM('pending', 'processing', 'completed', 'failed');--> statement-breakpoint
CREATE TABLE "ledger_entries" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"kind" "ledger_kind" NOT NULL,
	"category" "ledger_category" NOT NULL,
	"amount_usd" numeric(24, 12) NOT NULL,
	"currency" text DEFAULT 'usd' NOT NULL,
	"occurred_at" timestamp (3) with time zone NOT NULL,
	"user_id" bigint,
	"task_id" bigint,
	"stripe_object_id" text,
	"created_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "ledger_entries_category_task_id_key" UNIQUE("category","task_id"),
	CONSTRAINT "ledger_entries_category_stripe_object_id_key" UNIQUE("category","stripe_object_id")
);
--> statement-breakpoint
CREATE TABLE "tasks" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"status" "task_status" DEFAULT 'pending' NOT NULL,
	"provider" "provider_name" NOT NULL,
	"model" text NOT NULL,
	"input" text NOT NULL,
	"output" text,
	"prompt_tokens" integer,
	"completion_tokens" integer,
	"tokens_used" integer,
	"cost_usd" numeric(20, 12),
	"user_id" bigint,
	"attempts" integer DEFAULT 0 NOT NULL,
	"error" text,
	"created_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	"started_at" timestamp (3) with time zone,
	"completed_at" timestamp (3) with time zone,
	"updated_at" timestamp (3) with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "users" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"identifier" text NOT NULL,
	"email" text,
	"created_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "users_identifier_unique" UNIQUE("identifier")
);
--> statement-breakpoint
ALTER TABLE "ledger_entries" ADD CONSTRAINT "ledger_entries_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "ledger_entries" ADD CONSTRAINT "ledger_entries_task_id_tasks_id_fk" FOREIGN KEY ("task_id") REFERENCES "public"."tasks"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "tasks" ADD CONSTRAINT "tasks_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "ledger_entries_occurred_at_idx" ON "ledger_entries" USING btree ("occurred_at");--> statement-breakpoint
CREATE INDEX "tasks_status_id_idx" ON "tasks" USING btree ("status","id");--> statement-breakpoint
CREATE INDEX "tasks_user_id_id_idx" ON "tasks" USING btree ("user_id","id");--> statement-breakpoint
CREATE INDEX "tasks_unfinished_updated_at_idx" ON "tasks" USING btree ("updated_at") WHERE "tasks"."status" in ('pending', 'processing');