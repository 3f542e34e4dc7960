-- An `api_cost` row names the provider and model of its task, so usage per model is summed from
-- the ledger alone. The task runner's booking (task-costs.ts) copies them itself; any other writer
-- (a script, an import) gets them from the task here. The ledger's check
-- (`ledger_entries_api_cost_model_check`) refuses an `api_cost` row of a task without them.
--
-- The current definition in the migrated database (migration 0009), checked by
-- trigger-functions.test.ts. To change it, write a new migration and update this file with it.
CREATE OR REPLACE FUNCTION public.ledger_entries_copy_task_model()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
BEGIN
  SELECT t.provider, t.model INTO NEW.provider, NEW.model FROM tasks t WHERE t.id = NEW.task_id;
  RETURN NEW;
END $function$
;
CREATE TRIGGER ledger_entries_copy_task_model BEFORE INSERT ON public.ledger_entries FOR EACH ROW
  WHEN (((new.category = 'api_cost'::ledger_category) AND (new.task_id IS NOT NULL)
    AND ((new.provider IS NULL) OR (new.model IS NULL))))
  EXECUTE FUNCTION ledger_entries_copy_task_model();
