-- The schema as designed, in one migration (the earlier migrations, four designs of the stats
-- counters among them, were squashed before any database was deployed). Tables, enums and indexes
-- are drizzle-kit's, from packages/db/src/schema; the functions and triggers after them are ours.
CREATE TYPE "public"."ledger_category" AS ENUM('subscription', 'micro_payment', 'refund', 'api_cost', 'payment_fee', 'dispute');--> statement-breakpoint
CREATE TYPE "public"."ledger_kind" AS ENUM('income', 'expense');--> statement-breakpoint
CREATE TYPE "public"."report_period" AS ENUM('daily', 'weekly', 'monthly');--> statement-breakpoint
CREATE TYPE "public"."provider_name" AS ENUM('openai', 'mistral');--> statement-breakpoint
CREATE TYPE "public"."task_status" AS ENUM('pending', 'processing', 'completed', 'failed');--> statement-breakpoint
CREATE TABLE "api_keys" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"user_id" bigint NOT NULL,
	"key_hash" text NOT NULL,
	"prefix" text NOT NULL,
	"created_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	"revoked_at" timestamp (3) with time zone,
	CONSTRAINT "api_keys_key_hash_unique" UNIQUE("key_hash")
);
--> statement-breakpoint
CREATE TABLE "ledger_entries" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"kind" "ledger_kind" NOT NULL,
	"category" "ledger_category" NOT NULL,
	"amount_usd" numeric(24, 12) NOT NULL,
	"currency" text DEFAULT 'usd' NOT NULL,
	"original_amount" numeric(24, 12),
	"original_currency" text,
	"stripe_balance_transaction_id" text,
	"occurred_at" timestamp (3) with time zone NOT NULL,
	"user_id" bigint,
	"task_id" bigint,
	"stripe_object_id" text,
	"stripe_charge_id" text,
	"created_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "ledger_entries_category_task_id_key" UNIQUE("category","task_id"),
	CONSTRAINT "ledger_entries_category_stripe_object_id_key" UNIQUE("category","stripe_object_id")
);
--> statement-breakpoint
CREATE TABLE "report_dirty_days" (
	"day" date NOT NULL
);
--> statement-breakpoint
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
	"currency" text DEFAULT 'usd' NOT NULL,
	"amount_usd" numeric(24, 12) NOT NULL,
	"generated_at" timestamp (3) with time zone NOT NULL,
	CONSTRAINT "report_rollups_period_period_start_kind_category_currency_pk" PRIMARY KEY("period","period_start","kind","category","currency")
);
--> statement-breakpoint
CREATE TABLE "stats_counters" (
	"shard" smallint PRIMARY KEY NOT NULL,
	"users" bigint DEFAULT 0 NOT NULL,
	"tasks" bigint DEFAULT 0 NOT NULL,
	"pending" bigint DEFAULT 0 NOT NULL,
	"processing" bigint DEFAULT 0 NOT NULL,
	"completed" bigint DEFAULT 0 NOT NULL,
	"failed" bigint DEFAULT 0 NOT NULL,
	"tokens" bigint DEFAULT 0 NOT NULL,
	"cost_usd" numeric(30, 12) DEFAULT '0' NOT NULL,
	"income_usd" numeric(30, 12) DEFAULT '0' NOT NULL,
	"expense_usd" numeric(30, 12) DEFAULT '0' NOT NULL
);
--> statement-breakpoint
CREATE TABLE "stripe_events" (
	"id" text PRIMARY KEY NOT NULL,
	"type" text NOT NULL,
	"payload" jsonb NOT NULL,
	"created_at" timestamp (3) with time zone NOT NULL,
	"problem" text,
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
	"lease_owner" text,
	"lease_expires_at" timestamp (3) with time zone,
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
	"stripe_customer_id" text,
	"created_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "users_identifier_unique" UNIQUE("identifier"),
	CONSTRAINT "users_stripe_customer_id_unique" UNIQUE("stripe_customer_id")
);
--> statement-breakpoint
ALTER TABLE "api_keys" ADD CONSTRAINT "api_keys_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "ledger_entries" ADD CONSTRAINT "ledger_entries_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "ledger_entries" ADD CONSTRAINT "ledger_entries_task_id_tasks_id_fk" FOREIGN KEY ("task_id") REFERENCES "public"."tasks"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "subscriptions" ADD CONSTRAINT "subscriptions_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "tasks" ADD CONSTRAINT "tasks_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "api_keys_user_id_idx" ON "api_keys" USING btree ("user_id") WHERE "api_keys"."revoked_at" is null;--> statement-breakpoint
CREATE INDEX "ledger_entries_occurred_at_idx" ON "ledger_entries" USING btree ("occurred_at");--> statement-breakpoint
CREATE INDEX "ledger_entries_created_at_idx" ON "ledger_entries" USING btree ("created_at");--> statement-breakpoint
CREATE INDEX "ledger_entries_stripe_charge_id_idx" ON "ledger_entries" USING btree ("stripe_charge_id");--> statement-breakpoint
CREATE INDEX "subscriptions_user_id_idx" ON "subscriptions" USING btree ("user_id");--> statement-breakpoint
CREATE INDEX "subscriptions_active_idx" ON "subscriptions" USING btree ("id") WHERE "subscriptions"."status" in ('active', 'trialing');--> statement-breakpoint
CREATE INDEX "tasks_status_id_idx" ON "tasks" USING btree ("status","id");--> statement-breakpoint
CREATE INDEX "tasks_user_id_id_idx" ON "tasks" USING btree ("user_id","id");--> statement-breakpoint
CREATE INDEX "tasks_unfinished_updated_at_idx" ON "tasks" USING btree ("updated_at") WHERE "tasks"."status" in ('pending', 'processing');--> statement-breakpoint
CREATE INDEX "tasks_unfinished_user_id_idx" ON "tasks" USING btree ("user_id") WHERE "tasks"."status" in ('pending', 'processing');
--> statement-breakpoint
-- The /api/stats counters: 32 shard rows (stats_counters) that statement-level triggers over
-- transition tables keep equal to a recount, in the same transaction as the rows they count. Each
-- counted statement adds to one shard row: its transaction's preferred row if no other transaction
-- holds it, else any free one (SKIP LOCKED), so a writer never waits on a counter row that another
-- transaction (an operator's open psql session, a long backfill) holds. Only `usd` ledger rows are
-- counted: the stats are in dollars.
CREATE FUNCTION counter_shard() RETURNS smallint LANGUAGE plpgsql AS $$
DECLARE
  preferred smallint := (txid_current() % 32)::smallint;
  chosen smallint;
BEGIN
  SELECT shard INTO chosen FROM stats_counters WHERE shard = preferred FOR NO KEY UPDATE SKIP LOCKED;
  IF chosen IS NULL THEN
    SELECT shard INTO chosen FROM stats_counters FOR NO KEY UPDATE SKIP LOCKED LIMIT 1;
  END IF;
  -- No free row (all held, or none yet after a TRUNCATE): the preferred one, created if missing.
  RETURN coalesce(chosen, preferred);
END $$;
--> statement-breakpoint
CREATE FUNCTION count_users() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO stats_counters AS c (shard, users) SELECT counter_shard(), count(*) FROM new_rows
    HAVING count(*) > 0
    ON CONFLICT (shard) DO UPDATE SET users = c.users + excluded.users;
  ELSE
    INSERT INTO stats_counters AS c (shard, users) SELECT counter_shard(), -count(*) FROM old_rows
    HAVING count(*) > 0
    ON CONFLICT (shard) DO UPDATE SET users = c.users + excluded.users;
  END IF;
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE TRIGGER count_users_inserted AFTER INSERT ON users REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION count_users();
--> statement-breakpoint
CREATE TRIGGER count_users_deleted AFTER DELETE ON users REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION count_users();
--> statement-breakpoint
CREATE FUNCTION count_tasks() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO stats_counters AS c (shard, tasks, pending, processing, completed, failed, tokens, cost_usd)
    SELECT counter_shard(), sum(sign), coalesce(sum(sign) FILTER (WHERE status = 'pending'), 0),
      coalesce(sum(sign) FILTER (WHERE status = 'processing'), 0),
      coalesce(sum(sign) FILTER (WHERE status = 'completed'), 0),
      coalesce(sum(sign) FILTER (WHERE status = 'failed'), 0),
      coalesce(sum(sign * tokens_used) FILTER (WHERE status = 'completed'), 0),
      coalesce(sum(sign * cost_usd) FILTER (WHERE status = 'completed'), 0)
    FROM (SELECT 1 AS sign, status, tokens_used, cost_usd FROM new_rows) AS counted
    HAVING count(*) > 0
    ON CONFLICT (shard) DO UPDATE SET tasks = c.tasks + excluded.tasks, pending = c.pending + excluded.pending,
      processing = c.processing + excluded.processing, completed = c.completed + excluded.completed,
      failed = c.failed + excluded.failed, tokens = c.tokens + excluded.tokens, cost_usd = c.cost_usd + excluded.cost_usd;
  ELSIF TG_OP = 'UPDATE' THEN
    INSERT INTO stats_counters AS c (shard, tasks, pending, processing, completed, failed, tokens, cost_usd)
    SELECT counter_shard(), sum(sign), coalesce(sum(sign) FILTER (WHERE status = 'pending'), 0),
      coalesce(sum(sign) FILTER (WHERE status = 'processing'), 0),
      coalesce(sum(sign) FILTER (WHERE status = 'completed'), 0),
      coalesce(sum(sign) FILTER (WHERE status = 'failed'), 0),
      coalesce(sum(sign * tokens_used) FILTER (WHERE status = 'completed'), 0),
      coalesce(sum(sign * cost_usd) FILTER (WHERE status = 'completed'), 0)
    FROM (SELECT 1 AS sign, status, tokens_used, cost_usd FROM new_rows
      UNION ALL SELECT -1, status, tokens_used, cost_usd FROM old_rows) AS counted
    HAVING count(*) > 0
    ON CONFLICT (shard) DO UPDATE SET tasks = c.tasks + excluded.tasks, pending = c.pending + excluded.pending,
      processing = c.processing + excluded.processing, completed = c.completed + excluded.completed,
      failed = c.failed + excluded.failed, tokens = c.tokens + excluded.tokens, cost_usd = c.cost_usd + excluded.cost_usd;
  ELSE
    INSERT INTO stats_counters AS c (shard, tasks, pending, processing, completed, failed, tokens, cost_usd)
    SELECT counter_shard(), sum(sign), coalesce(sum(sign) FILTER (WHERE status = 'pending'), 0),
      coalesce(sum(sign) FILTER (WHERE status = 'processing'), 0),
      coalesce(sum(sign) FILTER (WHERE status = 'completed'), 0),
      coalesce(sum(sign) FILTER (WHERE status = 'failed'), 0),
      coalesce(sum(sign * tokens_used) FILTER (WHERE status = 'completed'), 0),
      coalesce(sum(sign * cost_usd) FILTER (WHERE status = 'completed'), 0)
    FROM (SELECT -1 AS sign, status, tokens_used, cost_usd FROM old_rows) AS counted
    HAVING count(*) > 0
    ON CONFLICT (shard) DO UPDATE SET tasks = c.tasks + excluded.tasks, pending = c.pending + excluded.pending,
      processing = c.processing + excluded.processing, completed = c.completed + excluded.completed,
      failed = c.failed + excluded.failed, tokens = c.tokens + excluded.tokens, cost_usd = c.cost_usd + excluded.cost_usd;
  END IF;
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE TRIGGER count_tasks_inserted AFTER INSERT ON tasks REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION count_tasks();
--> statement-breakpoint
CREATE TRIGGER count_tasks_updated AFTER UPDATE ON tasks REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION count_tasks();
--> statement-breakpoint
CREATE TRIGGER count_tasks_deleted AFTER DELETE ON tasks REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION count_tasks();
--> statement-breakpoint
CREATE FUNCTION count_ledger() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO stats_counters AS c (shard, income_usd, expense_usd)
    SELECT counter_shard(), coalesce(sum(sign * amount_usd) FILTER (WHERE kind = 'income' AND currency = 'usd'), 0),
      coalesce(sum(sign * amount_usd) FILTER (WHERE kind <> 'income' AND currency = 'usd'), 0)
    FROM (SELECT 1 AS sign, kind, currency, amount_usd FROM new_rows) AS counted
    HAVING count(*) > 0
    ON CONFLICT (shard) DO UPDATE SET income_usd = c.income_usd + excluded.income_usd,
      expense_usd = c.expense_usd + excluded.expense_usd;
  ELSIF TG_OP = 'UPDATE' THEN
    INSERT INTO stats_counters AS c (shard, income_usd, expense_usd)
    SELECT counter_shard(), coalesce(sum(sign * amount_usd) FILTER (WHERE kind = 'income' AND currency = 'usd'), 0),
      coalesce(sum(sign * amount_usd) FILTER (WHERE kind <> 'income' AND currency = 'usd'), 0)
    FROM (SELECT 1 AS sign, kind, currency, amount_usd FROM new_rows
      UNION ALL SELECT -1, kind, currency, amount_usd FROM old_rows) AS counted
    HAVING count(*) > 0
    ON CONFLICT (shard) DO UPDATE SET income_usd = c.income_usd + excluded.income_usd,
      expense_usd = c.expense_usd + excluded.expense_usd;
  ELSE
    INSERT INTO stats_counters AS c (shard, income_usd, expense_usd)
    SELECT counter_shard(), coalesce(sum(sign * amount_usd) FILTER (WHERE kind = 'income' AND currency = 'usd'), 0),
      coalesce(sum(sign * amount_usd) FILTER (WHERE kind <> 'income' AND currency = 'usd'), 0)
    FROM (SELECT -1 AS sign, kind, currency, amount_usd FROM old_rows) AS counted
    HAVING count(*) > 0
    ON CONFLICT (shard) DO UPDATE SET income_usd = c.income_usd + excluded.income_usd,
      expense_usd = c.expense_usd + excluded.expense_usd;
  END IF;
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE TRIGGER count_ledger_inserted AFTER INSERT ON ledger_entries REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION count_ledger();
--> statement-breakpoint
CREATE TRIGGER count_ledger_updated AFTER UPDATE ON ledger_entries REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION count_ledger();
--> statement-breakpoint
CREATE TRIGGER count_ledger_deleted AFTER DELETE ON ledger_entries REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION count_ledger();
--> statement-breakpoint
-- Sets every counter from the rows themselves: after a bulk load done with triggers off
-- (`SET session_replication_role = replica`). Writers wait while it counts.
CREATE FUNCTION recount_stats() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  LOCK TABLE users, tasks, ledger_entries IN SHARE MODE;
  DELETE FROM stats_counters;
  INSERT INTO stats_counters (shard) SELECT generate_series(0, 31);
  UPDATE stats_counters SET
    users = (SELECT count(*) FROM users),
    (tasks, pending, processing, completed, failed, tokens, cost_usd) = (
      SELECT count(*), count(*) FILTER (WHERE status = 'pending'), count(*) FILTER (WHERE status = 'processing'),
        count(*) FILTER (WHERE status = 'completed'), count(*) FILTER (WHERE status = 'failed'),
        coalesce(sum(tokens_used) FILTER (WHERE status = 'completed'), 0),
        coalesce(sum(cost_usd) FILTER (WHERE status = 'completed'), 0)
      FROM tasks),
    (income_usd, expense_usd) = (
      SELECT coalesce(sum(amount_usd) FILTER (WHERE kind = 'income' AND currency = 'usd'), 0),
        coalesce(sum(amount_usd) FILTER (WHERE kind <> 'income' AND currency = 'usd'), 0)
      FROM ledger_entries)
  WHERE shard = 0;
END $$;
--> statement-breakpoint
SELECT recount_stats();
--> statement-breakpoint
-- Which report periods are out of date, exact whatever the commit delay: the writing transaction
-- itself records the days its ledger rows touch, so they become dirty when, and only when, the rows
-- become visible; the rollup takes and recomputes the days it sees under one snapshot.
CREATE FUNCTION mark_report_days_dirty() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO report_dirty_days (day) SELECT DISTINCT (occurred_at AT TIME ZONE 'UTC')::date FROM new_rows;
  ELSIF TG_OP = 'DELETE' THEN
    INSERT INTO report_dirty_days (day) SELECT DISTINCT (occurred_at AT TIME ZONE 'UTC')::date FROM old_rows;
  ELSE
    INSERT INTO report_dirty_days (day)
    SELECT (occurred_at AT TIME ZONE 'UTC')::date FROM new_rows
    UNION SELECT (occurred_at AT TIME ZONE 'UTC')::date FROM old_rows;
  END IF;
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE TRIGGER mark_report_days_dirty_inserted AFTER INSERT ON ledger_entries REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION mark_report_days_dirty();
--> statement-breakpoint
CREATE TRIGGER mark_report_days_dirty_updated AFTER UPDATE ON ledger_entries
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION mark_report_days_dirty();
--> statement-breakpoint
CREATE TRIGGER mark_report_days_dirty_deleted AFTER DELETE ON ledger_entries REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION mark_report_days_dirty();
