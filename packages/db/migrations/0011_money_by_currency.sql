-- Money in its own currency. Every Stripe amount used to be divided by 100 whatever its currency,
-- and amounts of every currency were added together as dollars. Now a Stripe payment is booked as
-- what Stripe settled (its balance transaction, in the account's settlement currency, with
-- Stripe's fee as a `payment_fee` expense), or, where that is not known, as the amount in its own
-- currency with that currency's exponent; reports and stats add only the `usd` rows and report
-- the others apart. Disputes are booked too (`dispute`).
ALTER TYPE "public"."ledger_category" ADD VALUE 'payment_fee';
--> statement-breakpoint
ALTER TYPE "public"."ledger_category" ADD VALUE 'dispute';
--> statement-breakpoint
ALTER TABLE "ledger_entries" ADD COLUMN "original_amount" numeric(24, 12);
--> statement-breakpoint
ALTER TABLE "ledger_entries" ADD COLUMN "original_currency" text;
--> statement-breakpoint
ALTER TABLE "ledger_entries" ADD COLUMN "stripe_balance_transaction_id" text;
--> statement-breakpoint
ALTER TABLE "report_rollups" ADD COLUMN "currency" text DEFAULT 'usd' NOT NULL;
--> statement-breakpoint
ALTER TABLE "report_rollups" DROP CONSTRAINT "report_rollups_period_period_start_kind_category_pk";
--> statement-breakpoint
ALTER TABLE "report_rollups" ADD CONSTRAINT "report_rollups_period_period_start_kind_category_currency_pk" PRIMARY KEY("period","period_start","kind","category","currency");
--> statement-breakpoint
-- Rows booked before from Stripe amounts of zero- and three-decimal currencies, to their true value
-- (the old rule divided every amount by 100). The update marks their days dirty (0008's trigger).
UPDATE ledger_entries SET amount_usd = amount_usd * 100
WHERE stripe_object_id IS NOT NULL AND currency IN ('bif', 'clp', 'djf', 'gnf', 'jpy', 'kmf', 'krw', 'mga', 'pyg', 'rwf', 'ugx', 'vnd', 'vuv', 'xaf', 'xof', 'xpf');
--> statement-breakpoint
UPDATE ledger_entries SET amount_usd = amount_usd / 10
WHERE stripe_object_id IS NOT NULL AND currency IN ('bhd', 'jod', 'kwd', 'omr', 'tnd');
--> statement-breakpoint
-- The stats count the usd rows only.
CREATE OR REPLACE FUNCTION count_ledger() RETURNS trigger LANGUAGE plpgsql AS $$
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
CREATE OR REPLACE FUNCTION recount_stats() RETURNS void LANGUAGE plpgsql AS $$
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
-- Every day once more: the rollups are recomputed per currency.
INSERT INTO report_dirty_days (day) SELECT DISTINCT (occurred_at AT TIME ZONE 'UTC')::date FROM ledger_entries;
