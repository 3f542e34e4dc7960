-- The stats counters' shard row is chosen per statement among the rows no other transaction holds.
-- It was `pg_backend_pid() % 32`, fixed per connection: one open transaction that had written a
-- counted row (an operator's psql session, a long backfill) kept its shard row locked until it
-- ended, and every writer whose connection mapped to that shard waited on it, for minutes, with
-- nothing to bound the wait (issue: a worker's claim stalled behind it, and the API would have hung
-- the same way). Now a statement takes its transaction's preferred shard (by transaction id) if no
-- other transaction holds it, else any free shard, with SKIP LOCKED: a writer never waits on a
-- counter row unless all 32 are held by others. A transaction may spread over several shard rows;
-- as none of them is ever waited for, that makes no lock cycle.
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
CREATE OR REPLACE FUNCTION count_users() RETURNS trigger LANGUAGE plpgsql AS $$
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
CREATE OR REPLACE FUNCTION count_tasks() RETURNS trigger LANGUAGE plpgsql AS $$
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
CREATE OR REPLACE FUNCTION count_ledger() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO stats_counters AS c (shard, income_usd, expense_usd)
    SELECT counter_shard(), coalesce(sum(sign * amount_usd) FILTER (WHERE kind = 'income'), 0),
      coalesce(sum(sign * amount_usd) FILTER (WHERE kind <> 'income'), 0)
    FROM (SELECT 1 AS sign, kind, amount_usd FROM new_rows) AS counted
    HAVING count(*) > 0
    ON CONFLICT (shard) DO UPDATE SET income_usd = c.income_usd + excluded.income_usd,
      expense_usd = c.expense_usd + excluded.expense_usd;
  ELSIF TG_OP = 'UPDATE' THEN
    INSERT INTO stats_counters AS c (shard, income_usd, expense_usd)
    SELECT counter_shard(), coalesce(sum(sign * amount_usd) FILTER (WHERE kind = 'income'), 0),
      coalesce(sum(sign * amount_usd) FILTER (WHERE kind <> 'income'), 0)
    FROM (SELECT 1 AS sign, kind, amount_usd FROM new_rows
      UNION ALL SELECT -1, kind, amount_usd FROM old_rows) AS counted
    HAVING count(*) > 0
    ON CONFLICT (shard) DO UPDATE SET income_usd = c.income_usd + excluded.income_usd,
      expense_usd = c.expense_usd + excluded.expense_usd;
  ELSE
    INSERT INTO stats_counters AS c (shard, income_usd, expense_usd)
    SELECT counter_shard(), coalesce(sum(sign * amount_usd) FILTER (WHERE kind = 'income'), 0),
      coalesce(sum(sign * amount_usd) FILTER (WHERE kind <> 'income'), 0)
    FROM (SELECT -1 AS sign, kind, amount_usd FROM old_rows) AS counted
    HAVING count(*) > 0
    ON CONFLICT (shard) DO UPDATE SET income_usd = c.income_usd + excluded.income_usd,
      expense_usd = c.expense_usd + excluded.expense_usd;
  END IF;
  RETURN NULL;
END $$;
