-- The /api/stats counters as columns of one row per shard, updated by row-level triggers.
-- Measured (bench/diagnostics/postgres-cost.ts): the statement-level triggers of 0002/0004 built
-- transition tables and planned an INSERT … SELECT … ON CONFLICT over them for every statement,
-- nine counter-row updates per task. A row-level trigger updating the one row that holds every
-- counter costs less, and /api/stats reads 32 rows in one scan.
-- A trigger writes the shard of its connection, so a transaction only ever takes one counter row:
-- no lock cycles between transactions, whatever order they write users, tasks and ledger rows in.
-- Bulk loads pay a trigger call per row; load with triggers off and call recount_stats() after.
DROP TRIGGER users_inserted_stats ON users;
--> statement-breakpoint
DROP TRIGGER tasks_inserted_stats ON tasks;
--> statement-breakpoint
DROP TRIGGER tasks_updated_stats ON tasks;
--> statement-breakpoint
DROP TRIGGER ledger_inserted_stats ON ledger_entries;
--> statement-breakpoint
DROP FUNCTION users_inserted_stats(), tasks_inserted_stats(), tasks_updated_stats(), ledger_inserted_stats();
--> statement-breakpoint
DROP TABLE "stats_counters";
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
-- Each trigger adds what the new row counts for and takes away what the old row counted for, so
-- inserts, updates and deletes all keep the counters equal to a recount. The LOOP creates the
-- shard's row if it is missing (after a TRUNCATE, say); normally the UPDATE finds it.
CREATE FUNCTION count_users() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  this_shard smallint := pg_backend_pid() % 32;
  added int := (TG_OP = 'INSERT')::int - (TG_OP = 'DELETE')::int;
BEGIN
  LOOP
    UPDATE stats_counters SET users = users + added WHERE shard = this_shard;
    EXIT WHEN FOUND;
    INSERT INTO stats_counters (shard) VALUES (this_shard) ON CONFLICT DO NOTHING;
  END LOOP;
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE TRIGGER count_users AFTER INSERT OR DELETE ON users FOR EACH ROW EXECUTE FUNCTION count_users();
--> statement-breakpoint
CREATE FUNCTION count_tasks() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  this_shard smallint := pg_backend_pid() % 32;
  old_status task_status;
  new_status task_status;
  tokens_delta bigint := 0;
  cost_delta numeric := 0;
BEGIN
  IF TG_OP <> 'INSERT' THEN
    old_status := OLD.status;
    IF OLD.status = 'completed' THEN
      tokens_delta := tokens_delta - coalesce(OLD.tokens_used, 0);
      cost_delta := cost_delta - coalesce(OLD.cost_usd, 0);
    END IF;
  END IF;
  IF TG_OP <> 'DELETE' THEN
    new_status := NEW.status;
    IF NEW.status = 'completed' THEN
      tokens_delta := tokens_delta + coalesce(NEW.tokens_used, 0);
      cost_delta := cost_delta + coalesce(NEW.cost_usd, 0);
    END IF;
  END IF;
  LOOP
    UPDATE stats_counters SET
      tasks = tasks + (TG_OP = 'INSERT')::int - (TG_OP = 'DELETE')::int,
      pending = pending + (new_status IS NOT DISTINCT FROM 'pending')::int - (old_status IS NOT DISTINCT FROM 'pending')::int,
      processing = processing + (new_status IS NOT DISTINCT FROM 'processing')::int - (old_status IS NOT DISTINCT FROM 'processing')::int,
      completed = completed + (new_status IS NOT DISTINCT FROM 'completed')::int - (old_status IS NOT DISTINCT FROM 'completed')::int,
      failed = failed + (new_status IS NOT DISTINCT FROM 'failed')::int - (old_status IS NOT DISTINCT FROM 'failed')::int,
      tokens = tokens + tokens_delta,
      cost_usd = cost_usd + cost_delta
    WHERE shard = this_shard;
    EXIT WHEN FOUND;
    INSERT INTO stats_counters (shard) VALUES (this_shard) ON CONFLICT DO NOTHING;
  END LOOP;
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE TRIGGER count_tasks AFTER INSERT OR DELETE ON tasks FOR EACH ROW EXECUTE FUNCTION count_tasks();
--> statement-breakpoint
-- Most updates of a task (attempts, started_at) change nothing counted, and skip the call.
CREATE TRIGGER count_task_changes AFTER UPDATE ON tasks FOR EACH ROW
  WHEN (OLD.status IS DISTINCT FROM NEW.status
    OR OLD.tokens_used IS DISTINCT FROM NEW.tokens_used
    OR OLD.cost_usd IS DISTINCT FROM NEW.cost_usd)
  EXECUTE FUNCTION count_tasks();
--> statement-breakpoint
CREATE FUNCTION count_ledger() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  this_shard smallint := pg_backend_pid() % 32;
  income_delta numeric := 0;
  expense_delta numeric := 0;
BEGIN
  IF TG_OP <> 'INSERT' THEN
    IF OLD.kind = 'income' THEN income_delta := -OLD.amount_usd; ELSE expense_delta := -OLD.amount_usd; END IF;
  END IF;
  IF TG_OP <> 'DELETE' THEN
    IF NEW.kind = 'income' THEN income_delta := income_delta + NEW.amount_usd;
    ELSE expense_delta := expense_delta + NEW.amount_usd; END IF;
  END IF;
  LOOP
    UPDATE stats_counters SET income_usd = income_usd + income_delta, expense_usd = expense_usd + expense_delta
    WHERE shard = this_shard;
    EXIT WHEN FOUND;
    INSERT INTO stats_counters (shard) VALUES (this_shard) ON CONFLICT DO NOTHING;
  END LOOP;
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE TRIGGER count_ledger AFTER INSERT OR UPDATE OF kind, amount_usd OR DELETE ON ledger_entries
  FOR EACH ROW EXECUTE FUNCTION count_ledger();
--> statement-breakpoint
-- Sets every counter from the rows themselves: after this migration, and after a bulk load done
-- with triggers off (`SET session_replication_role = replica`). Writers wait while it counts.
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
      SELECT coalesce(sum(amount_usd) FILTER (WHERE kind = 'income'), 0),
        coalesce(sum(amount_usd) FILTER (WHERE kind <> 'income'), 0)
      FROM ledger_entries)
  WHERE shard = 0;
END $$;
--> statement-breakpoint
SELECT recount_stats();
