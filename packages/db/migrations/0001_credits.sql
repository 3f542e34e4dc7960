CREATE TYPE "public"."credit_source" AS ENUM('payment', 'invoice', 'refund', 'dispute', 'task', 'admin');--> statement-breakpoint
CREATE TABLE "credit_balances" (
	"user_id" bigint PRIMARY KEY NOT NULL,
	"balance" numeric(24, 12) DEFAULT '0' NOT NULL,
	"held" numeric(24, 12) DEFAULT '0' NOT NULL,
	CONSTRAINT "credit_balances_held_check" CHECK ("credit_balances"."held" >= 0)
);
--> statement-breakpoint
CREATE TABLE "credit_entries" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"user_id" bigint NOT NULL,
	"source" "credit_source" NOT NULL,
	"source_key" text NOT NULL,
	"amount" numeric(24, 12) NOT NULL,
	"task_id" bigint,
	"reason" text,
	"occurred_at" timestamp (3) with time zone NOT NULL,
	"created_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "credit_entries_source_source_key_key" UNIQUE("source","source_key")
);
--> statement-breakpoint
CREATE TABLE "usage_rollups" (
	"period" "report_period" NOT NULL,
	"period_start" date NOT NULL,
	"provider" "provider_name" NOT NULL,
	"model" text NOT NULL,
	"user_id" bigint,
	"tasks" integer NOT NULL,
	"tokens" bigint NOT NULL,
	"api_cost_usd" numeric(24, 12) NOT NULL,
	"charged_usd" numeric(24, 12) NOT NULL,
	"generated_at" timestamp (3) with time zone NOT NULL,
	CONSTRAINT "usage_rollups_period_key" UNIQUE NULLS NOT DISTINCT("period","period_start","provider","model","user_id")
);
--> statement-breakpoint
ALTER TABLE "ledger_entries" DROP CONSTRAINT "ledger_entries_category_task_id_key";--> statement-breakpoint
ALTER TABLE "ledger_entries" ADD COLUMN "run_id" text;--> statement-breakpoint
ALTER TABLE "tasks" ADD COLUMN "cached_tokens" integer;--> statement-breakpoint
ALTER TABLE "tasks" ADD COLUMN "reasoning_tokens" integer;--> statement-breakpoint
ALTER TABLE "tasks" ADD COLUMN "max_output_tokens" integer;--> statement-breakpoint
ALTER TABLE "tasks" ADD COLUMN "price" jsonb;--> statement-breakpoint
ALTER TABLE "tasks" ADD COLUMN "hold_usd" numeric(24, 12);--> statement-breakpoint
ALTER TABLE "tasks" ADD COLUMN "charged_usd" numeric(24, 12);--> statement-breakpoint
ALTER TABLE "credit_balances" ADD CONSTRAINT "credit_balances_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "credit_entries" ADD CONSTRAINT "credit_entries_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "credit_entries" ADD CONSTRAINT "credit_entries_task_id_tasks_id_fk" FOREIGN KEY ("task_id") REFERENCES "public"."tasks"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "credit_entries_user_id_id_idx" ON "credit_entries" USING btree ("user_id","id");--> statement-breakpoint
CREATE INDEX "credit_entries_occurred_at_idx" ON "credit_entries" USING btree ("occurred_at");--> statement-breakpoint
CREATE INDEX "tasks_completed_at_idx" ON "tasks" USING btree ("completed_at") WHERE "tasks"."status" = 'completed';--> statement-breakpoint
ALTER TABLE "ledger_entries" ADD CONSTRAINT "ledger_entries_category_task_id_run_id_key" UNIQUE("category","task_id","run_id");--> statement-breakpoint
-- A credit balance is the sum of its user's credit entries, moved by the transaction that books
-- the entry. The entries are never changed or removed: a correction is a new entry.
CREATE FUNCTION credit_entries_move_balance() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO credit_balances AS b (user_id, balance)
  SELECT user_id, sum(amount) FROM new_rows GROUP BY user_id
  ON CONFLICT (user_id) DO UPDATE SET balance = b.balance + excluded.balance;
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE TRIGGER credit_entries_move_balance AFTER INSERT ON credit_entries REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION credit_entries_move_balance();
--> statement-breakpoint
CREATE FUNCTION credit_entries_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'credit_entries is append-only: book a correcting entry instead';
END $$;
--> statement-breakpoint
CREATE TRIGGER credit_entries_append_only BEFORE UPDATE OR DELETE ON credit_entries
  FOR EACH ROW EXECUTE FUNCTION credit_entries_append_only();
--> statement-breakpoint
-- A task's hold ends when the task leaves pending/processing, whichever statement finishes it
-- (completion, failure, cancel): the hold is released and, on completion, the charge booked, once,
-- because a task finishes once. Both happen in the finishing statement's transaction.
CREATE FUNCTION tasks_settle_holds() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  WITH finished AS (
    SELECT n.id, n.user_id, n.status, n.hold_usd, n.charged_usd, n.completed_at
    FROM new_rows n JOIN old_rows o ON o.id = n.id
    WHERE o.status IN ('pending', 'processing') AND n.status NOT IN ('pending', 'processing')
      AND n.hold_usd IS NOT NULL AND n.user_id IS NOT NULL
  ), released AS (
    UPDATE credit_balances b SET held = b.held - f.hold_usd
    FROM (SELECT user_id, sum(hold_usd) AS hold_usd FROM finished GROUP BY user_id) f
    WHERE b.user_id = f.user_id
  )
  INSERT INTO credit_entries (user_id, source, source_key, amount, task_id, occurred_at)
  SELECT user_id, 'task', id::text, -charged_usd, id, coalesce(completed_at, now())
  FROM finished WHERE status = 'completed' AND charged_usd IS NOT NULL
  ON CONFLICT (source, source_key) DO NOTHING;
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE TRIGGER tasks_settle_holds AFTER UPDATE ON tasks REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION tasks_settle_holds();
