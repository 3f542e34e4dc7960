-- The /api/stats counters (0005's table, one row per connection shard) kept by statement-level
-- triggers instead of row-level ones. A row-level trigger updated its connection's counter row once
-- per written row, so a statement or transaction writing many rows updated the same row many times,
-- each update walking past the versions the earlier ones left: 10,000 tasks in one INSERT took
-- 0.9 s instead of 59 ms (a million would take hours), and the counter row stayed locked
-- from the first row to the commit, blocking every connection of the same shard. A statement-level
-- trigger sums the statement's rows from its transition tables and updates the row once, at the end.
-- Measured (bench/diagnostics/postgres-cost.ts): about 33 µs more Postgres CPU per task than the
-- row-level triggers (663 against 630 µs); 10,000 tasks in one INSERT now take 63 ms, 100,000 0.6 s.
DROP TRIGGER count_users ON users;
--> statement-breakpoint
DROP TRIGGER count_tasks ON tasks;
--> statement-breakpoint
DROP TRIGGER count_task_changes ON tasks;
--> statement-breakpoint
DROP TRIGGER count_ledger ON ledger_entries;
--> statement-breakpoint
DROP FUNCTION count_users(), count_tasks(), count_ledger();
--> statement-breakpoint
-- Each function adds, in one statement, what the statement's new rows count for and takes away what
-- its old rows counted for, so inserts, updates and deletes all keep the counters equal to a recount.
-- It writes the shard row of its connection, so a transaction only ever locks one counter row (no
-- lock cycles between transactions), and creates that row if it is missing (after a TRUNCATE, say).
-- Postgres allows transition tables only on single-event triggers: one trigger per event, all
-- sharing their table's function.
CREATE FUNCTION count_users() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO stats_counters AS c (shard, users) SELECT pg_backend_pid() % 32, count(*) FROM new_rows
    HAVING count(*) > 0
    ON CONFLICT (shard) DO UPDATE SET users = c.users + excluded.users;
  ELSE
    INSERT INTO stats_counters AS c (shard, users) SELECT pg_backend_pid() % 32, -count(*) FROM old_rows
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
-- Rows are counted with a sign: +1 for the statement's new rows, -1 for its old ones; a statement
-- that wrote no rows writes no counter. The three branches differ only in their rows: a statement
-- that names a transition table its trigger does not have fails to parse, and building the text at
-- run time (EXECUTE) would plan it on every call.
CREATE FUNCTION count_tasks() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO stats_counters AS c (shard, tasks, pending, processing, completed, failed, tokens, cost_usd)
    SELECT pg_backend_pid() % 32, sum(sign), coalesce(sum(sign) FILTER (WHERE status = 'pending'), 0),
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
    SELECT pg_backend_pid() % 32, sum(sign), coalesce(sum(sign) FILTER (WHERE status = 'pending'), 0),
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
    SELECT pg_backend_pid() % 32, sum(sign), coalesce(sum(sign) FILTER (WHERE status = 'pending'), 0),
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
    SELECT pg_backend_pid() % 32, coalesce(sum(sign * amount_usd) FILTER (WHERE kind = 'income'), 0),
      coalesce(sum(sign * amount_usd) FILTER (WHERE kind <> 'income'), 0)
    FROM (SELECT 1 AS sign, kind, amount_usd FROM new_rows) AS counted
    HAVING count(*) > 0
    ON CONFLICT (shard) DO UPDATE SET income_usd = c.income_usd + excluded.income_usd,
      expense_usd = c.expense_usd + excluded.expense_usd;
  ELSIF TG_OP = 'UPDATE' THEN
    INSERT INTO stats_counters AS c (shard, income_usd, expense_usd)
    SELECT pg_backend_pid() % 32, coalesce(sum(sign * amount_usd) FILTER (WHERE kind = 'income'), 0),
      coalesce(sum(sign * amount_usd) FILTER (WHERE kind <> 'income'), 0)
    FROM (SELECT 1 AS sign, kind, amount_usd FROM new_rows
      UNION ALL SELECT -1, kind, amount_usd FROM old_rows) AS counted
    HAVING count(*) > 0
    ON CONFLICT (shard) DO UPDATE SET income_usd = c.income_usd + excluded.income_usd,
      expense_usd = c.expense_usd + excluded.expense_usd;
  ELSE
    INSERT INTO stats_counters AS c (shard, income_usd, expense_usd)
    SELECT pg_backend_pid() % 32, coalesce(sum(sign * amount_usd) FILTER (WHERE kind = 'income'), 0),
      coalesce(sum(sign * amount_usd) FILTER (WHERE kind <> 'income'), 0)
    FROM (SELECT -1 AS sign, kind, amount_usd FROM old_rows) AS counted
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
