-- Usage per provider and model summed the `api_cost` rows joined to their tasks: on a million rows
-- the join was most of a full rollup (docs/performance.md). The rows now carry their task's provider
-- and model (a task's never change), so the rollup reads the ledger alone.
ALTER TABLE "ledger_entries" ADD COLUMN "provider" "provider_name";--> statement-breakpoint
ALTER TABLE "ledger_entries" ADD COLUMN "model" text;--> statement-breakpoint
-- The worker's booking copies them from the task in its own INSERT … SELECT; any other writer (a
-- script, a test, an import) gets them from the task here. A row trigger with a WHEN clause costs
-- nothing for the rows that carry them. The ledger is append-only, so inserts are enough.
CREATE FUNCTION ledger_entries_copy_task_model() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  SELECT t.provider, t.model INTO NEW.provider, NEW.model FROM tasks t WHERE t.id = NEW.task_id;
  RETURN NEW;
END $$;
--> statement-breakpoint
CREATE TRIGGER ledger_entries_copy_task_model BEFORE INSERT ON ledger_entries FOR EACH ROW
  WHEN (NEW.category = 'api_cost' AND NEW.task_id IS NOT NULL AND (NEW.provider IS NULL OR NEW.model IS NULL))
  EXECUTE FUNCTION ledger_entries_copy_task_model();
--> statement-breakpoint
-- The rows booked so far. The update marks their days dirty, so the next rollup recomputes them
-- once: the same sums, now read without the join.
UPDATE ledger_entries l SET provider = t.provider, model = t.model
FROM tasks t
WHERE t.id = l.task_id AND l.category = 'api_cost' AND (l.provider IS NULL OR l.model IS NULL);--> statement-breakpoint
-- Checked after the backfill. It also holds a bulk load done with triggers off
-- (`session_replication_role = replica`) to name the provider and model itself.
ALTER TABLE "ledger_entries" ADD CONSTRAINT "ledger_entries_api_cost_model_check" CHECK ("ledger_entries"."category" <> 'api_cost' or "ledger_entries"."task_id" is null or ("ledger_entries"."provider" is not null and "ledger_entries"."model" is not null));
