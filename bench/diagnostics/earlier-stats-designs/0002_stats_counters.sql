-- Exact running totals for /api/stats, maintained in the same transaction as the rows they count,
-- so the stats endpoint reads a few dozen counter rows instead of scanning tasks and the ledger.
-- Statement-level triggers with transition tables: a bulk insert of a million rows adds to each
-- counter once, not a million times. Each counter is spread over 16 shards (by row id) so
-- concurrent writers rarely wait on one row, and every trigger takes its counter rows in
-- (name, shard) order, so two transactions never wait on each other in a cycle.
CREATE FUNCTION stats_apply(deltas jsonb) RETURNS void LANGUAGE sql AS $$
  INSERT INTO stats_counters (name, shard, value)
  SELECT name, shard, sum(delta)
  FROM jsonb_to_recordset(deltas) AS d(name text, shard smallint, delta numeric)
  GROUP BY name, shard
  HAVING sum(delta) <> 0
  ORDER BY name, shard
  ON CONFLICT (name, shard) DO UPDATE SET value = stats_counters.value + EXCLUDED.value
$$;
--> statement-breakpoint
CREATE FUNCTION users_inserted_stats() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM stats_apply((SELECT jsonb_agg(jsonb_build_object('name', 'users_total', 'shard', id % 16, 'delta', 1)) FROM new_rows));
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE TRIGGER users_inserted_stats AFTER INSERT ON users
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION users_inserted_stats();
--> statement-breakpoint
CREATE FUNCTION tasks_inserted_stats() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM stats_apply((
    SELECT jsonb_agg(d) FROM (
      SELECT jsonb_build_object('name', 'tasks_total', 'shard', id % 16, 'delta', 1) AS d FROM new_rows
      UNION ALL SELECT jsonb_build_object('name', 'tasks_' || status, 'shard', id % 16, 'delta', 1) FROM new_rows
      -- Rows inserted as completed (bulk loads) bring their tokens and cost.
      UNION ALL SELECT jsonb_build_object('name', 'tasks_tokens', 'shard', id % 16, 'delta', coalesce(tokens_used, 0))
        FROM new_rows WHERE status = 'completed'
      UNION ALL SELECT jsonb_build_object('name', 'tasks_cost', 'shard', id % 16, 'delta', coalesce(cost_usd, 0))
        FROM new_rows WHERE status = 'completed'
    ) deltas));
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE TRIGGER tasks_inserted_stats AFTER INSERT ON tasks
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION tasks_inserted_stats();
--> statement-breakpoint
CREATE FUNCTION tasks_updated_stats() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM stats_apply((
    SELECT jsonb_agg(d) FROM (
      SELECT jsonb_build_object('name', 'tasks_' || o.status, 'shard', n.id % 16, 'delta', -1) AS d
        FROM old_rows o JOIN new_rows n USING (id) WHERE o.status <> n.status
      UNION ALL SELECT jsonb_build_object('name', 'tasks_' || n.status, 'shard', n.id % 16, 'delta', 1)
        FROM old_rows o JOIN new_rows n USING (id) WHERE o.status <> n.status
      UNION ALL SELECT jsonb_build_object('name', 'tasks_tokens', 'shard', n.id % 16, 'delta', coalesce(n.tokens_used, 0))
        FROM old_rows o JOIN new_rows n USING (id) WHERE n.status = 'completed' AND o.status <> 'completed'
      UNION ALL SELECT jsonb_build_object('name', 'tasks_cost', 'shard', n.id % 16, 'delta', coalesce(n.cost_usd, 0))
        FROM old_rows o JOIN new_rows n USING (id) WHERE n.status = 'completed' AND o.status <> 'completed'
    ) deltas));
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE TRIGGER tasks_updated_stats AFTER UPDATE ON tasks
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION tasks_updated_stats();
--> statement-breakpoint
CREATE FUNCTION ledger_inserted_stats() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM stats_apply((
    SELECT jsonb_agg(jsonb_build_object('name', 'ledger_' || kind, 'shard', id % 16, 'delta', amount_usd)) FROM new_rows));
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE TRIGGER ledger_inserted_stats AFTER INSERT ON ledger_entries
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION ledger_inserted_stats();
--> statement-breakpoint
-- Counters start from what is already stored.
INSERT INTO stats_counters (name, shard, value)
SELECT 'users_total', 0, count(*) FROM users
UNION ALL SELECT 'tasks_total', 0, count(*) FROM tasks
UNION ALL SELECT 'tasks_' || status, 0, count(*) FROM tasks GROUP BY status
UNION ALL SELECT 'tasks_tokens', 0, coalesce(sum(tokens_used), 0) FROM tasks WHERE status = 'completed'
UNION ALL SELECT 'tasks_cost', 0, coalesce(sum(cost_usd), 0) FROM tasks WHERE status = 'completed'
UNION ALL SELECT 'ledger_' || kind, 0, sum(amount_usd) FROM ledger_entries GROUP BY kind;
