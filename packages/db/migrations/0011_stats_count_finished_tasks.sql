-- The task and user counts of /api/stats, and the hold settlement, move from statement-level
-- triggers over transition tables to row triggers with WHEN clauses. A statement-level trigger
-- runs, and has its transition tables filled, for every statement on its table, even one that
-- changes nothing it counts: storing a task and claiming it each paid for a counter update and
-- the settlement's query (docs/performance.md). Now only the rows that change a figure call a
-- function:
-- - a task once it has finished (completed, failed, canceled); the unfinished tasks are the
--   backlog, counted from their partial index when /api/stats is read;
-- - a user when created or deleted, not every submission's `INSERT … ON CONFLICT DO NOTHING`;
-- - a hold by the update that finishes its task.
-- A row trigger that updated a counter row would write one more version of that row per counted
-- row: a statement finishing 10,000 tasks took 3.5 s, each update slower than the last. So these
-- triggers append a row to stats_deltas instead, and the report rollup folds the deltas into the
-- counters (fold_stats_deltas()). The ledger keeps its statement-level counter: every ledger write
-- counts, and ledger rows are written in bulk.
CREATE TABLE "stats_deltas" (
	"users" bigint DEFAULT 0 NOT NULL,
	"completed" bigint DEFAULT 0 NOT NULL,
	"failed" bigint DEFAULT 0 NOT NULL,
	"canceled" bigint DEFAULT 0 NOT NULL,
	"tokens" bigint DEFAULT 0 NOT NULL,
	"cost_usd" numeric(30, 12) DEFAULT '0' NOT NULL
);
--> statement-breakpoint
DROP TRIGGER count_users_inserted ON users;
--> statement-breakpoint
DROP TRIGGER count_users_deleted ON users;
--> statement-breakpoint
DROP TRIGGER count_tasks_inserted ON tasks;
--> statement-breakpoint
DROP TRIGGER count_tasks_updated ON tasks;
--> statement-breakpoint
DROP TRIGGER count_tasks_deleted ON tasks;
--> statement-breakpoint
DROP TRIGGER tasks_settle_holds ON tasks;
--> statement-breakpoint
DROP FUNCTION count_users(), count_tasks(), tasks_settle_holds();
--> statement-breakpoint
ALTER TABLE "stats_counters" DROP COLUMN "tasks";--> statement-breakpoint
ALTER TABLE "stats_counters" DROP COLUMN "pending";--> statement-breakpoint
ALTER TABLE "stats_counters" DROP COLUMN "processing";--> statement-breakpoint
ALTER TABLE "stats_counters" ADD COLUMN "canceled" bigint DEFAULT 0 NOT NULL;
--> statement-breakpoint
CREATE FUNCTION count_users() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO stats_deltas (users) VALUES (CASE TG_OP WHEN 'INSERT' THEN 1 ELSE -1 END);
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE TRIGGER count_users AFTER INSERT OR DELETE ON users FOR EACH ROW EXECUTE FUNCTION count_users();
--> statement-breakpoint
-- Adds what the new row counts for and takes away what the old row counted for: a finished task
-- counts once in its status, and a completed one for its tokens and cost too. `canceled` is the
-- finished status that is neither of the others, never named: a fresh database runs every migration
-- in one transaction, and an enum value added in it (0005) cannot be used before it commits.
CREATE FUNCTION count_finished_tasks() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  completed bigint := 0;
  failed bigint := 0;
  canceled bigint := 0;
  tokens bigint := 0;
  cost numeric := 0;
BEGIN
  IF TG_OP <> 'DELETE' AND NEW.status NOT IN ('pending', 'processing') THEN
    CASE NEW.status
      WHEN 'completed' THEN
        completed := 1;
        tokens := coalesce(NEW.tokens_used, 0);
        cost := coalesce(NEW.cost_usd, 0);
      WHEN 'failed' THEN failed := 1;
      ELSE canceled := 1;
    END CASE;
  END IF;
  IF TG_OP <> 'INSERT' AND OLD.status NOT IN ('pending', 'processing') THEN
    CASE OLD.status
      WHEN 'completed' THEN
        completed := completed - 1;
        tokens := tokens - coalesce(OLD.tokens_used, 0);
        cost := cost - coalesce(OLD.cost_usd, 0);
      WHEN 'failed' THEN failed := failed - 1;
      ELSE canceled := canceled - 1;
    END CASE;
  END IF;
  INSERT INTO stats_deltas (completed, failed, canceled, tokens, cost_usd)
  VALUES (completed, failed, canceled, tokens, cost);
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE TRIGGER count_finished_tasks_inserted AFTER INSERT ON tasks FOR EACH ROW
  WHEN (NEW.status NOT IN ('pending', 'processing'))
  EXECUTE FUNCTION count_finished_tasks();
--> statement-breakpoint
CREATE TRIGGER count_finished_tasks_updated AFTER UPDATE ON tasks FOR EACH ROW
  WHEN ((OLD.status NOT IN ('pending', 'processing') OR NEW.status NOT IN ('pending', 'processing'))
    AND (OLD.status, OLD.tokens_used, OLD.cost_usd) IS DISTINCT FROM (NEW.status, NEW.tokens_used, NEW.cost_usd))
  EXECUTE FUNCTION count_finished_tasks();
--> statement-breakpoint
CREATE TRIGGER count_finished_tasks_deleted AFTER DELETE ON tasks FOR EACH ROW
  WHEN (OLD.status NOT IN ('pending', 'processing'))
  EXECUTE FUNCTION count_finished_tasks();
--> statement-breakpoint
-- Moves the deltas it sees into one counter row, in one statement: a delta committed meanwhile
-- stays for the next fold, and a reader sees each delta either in stats_deltas or in the counters.
CREATE FUNCTION fold_stats_deltas() RETURNS void LANGUAGE sql AS $$
  WITH folded AS (DELETE FROM stats_deltas RETURNING *)
  INSERT INTO stats_counters AS c (shard, users, completed, failed, canceled, tokens, cost_usd)
  SELECT counter_shard(), sum(users), sum(completed), sum(failed), sum(canceled), sum(tokens), sum(cost_usd)
  FROM folded HAVING count(*) > 0
  ON CONFLICT (shard) DO UPDATE SET users = c.users + excluded.users, completed = c.completed + excluded.completed,
    failed = c.failed + excluded.failed, canceled = c.canceled + excluded.canceled, tokens = c.tokens + excluded.tokens,
    cost_usd = c.cost_usd + excluded.cost_usd
$$;
--> statement-breakpoint
-- A finished prepaid task gives back its hold, and a completed one is charged its price: one credit
-- entry and one update of the balance row (migration 0006), by the update that finishes it.
CREATE FUNCTION tasks_settle_hold() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  charged numeric;
BEGIN
  IF NEW.status = 'completed' AND NEW.charged_usd IS NOT NULL THEN
    INSERT INTO credit_entries (user_id, source, source_key, amount, task_id, occurred_at)
    VALUES (NEW.user_id, 'task', NEW.id::text, -NEW.charged_usd, NEW.id, coalesce(NEW.completed_at, now()))
    ON CONFLICT (source, source_key) DO NOTHING
    RETURNING amount INTO charged;
  END IF;
  UPDATE credit_balances SET held = held - NEW.hold_usd, balance = balance + coalesce(charged, 0)
  WHERE user_id = NEW.user_id;
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE TRIGGER tasks_settle_hold AFTER UPDATE OF status ON tasks FOR EACH ROW
  WHEN (OLD.status IN ('pending', 'processing') AND NEW.status NOT IN ('pending', 'processing')
    AND NEW.hold_usd IS NOT NULL AND NEW.user_id IS NOT NULL)
  EXECUTE FUNCTION tasks_settle_hold();
--> statement-breakpoint
-- Sets every counter from the rows themselves: after a bulk load done with triggers off
-- (`SET session_replication_role = replica`). Writers wait while it counts. Canceled tasks are the
-- finished ones of neither other status (see count_finished_tasks).
CREATE OR REPLACE FUNCTION recount_stats() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  LOCK TABLE users, tasks, ledger_entries, stats_deltas IN SHARE MODE;
  DELETE FROM stats_counters;
  DELETE FROM stats_deltas;
  INSERT INTO stats_counters (shard) SELECT generate_series(0, 31);
  UPDATE stats_counters SET
    users = (SELECT count(*) FROM users),
    (completed, failed, canceled, tokens, cost_usd) = (
      SELECT count(*) FILTER (WHERE status = 'completed'), count(*) FILTER (WHERE status = 'failed'),
        count(*) FILTER (WHERE status NOT IN ('pending', 'processing', 'completed', 'failed')),
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
