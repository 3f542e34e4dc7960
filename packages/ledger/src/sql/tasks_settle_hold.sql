-- A finished prepaid task settles its hold, in the statement that finishes it (completion, failure,
-- cancel): the hold goes back to the user's available credit and, for a completed task, its charge
-- (`charged_usd`, the sale price never above the hold: task-costs.ts `completeAndCharge`) is booked
-- as one `task` credit entry, once per task (its key is the task id), and taken from the balance in
-- the same update (the entry's own trigger leaves `task` entries to this one). A failed or canceled
-- task is charged nothing. The trigger fires only for the row that leaves pending/processing with a
-- hold and a user.
--
-- The current definition in the migrated database (migrations 0001, 0006, 0011), checked by
-- trigger-functions.test.ts. To change it, write a new migration and update this file with it.
CREATE OR REPLACE FUNCTION public.tasks_settle_hold()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
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
END $function$
;
CREATE TRIGGER tasks_settle_hold AFTER UPDATE OF status ON public.tasks FOR EACH ROW
  WHEN (((old.status = ANY (ARRAY['pending'::task_status, 'processing'::task_status]))
    AND (new.status <> ALL (ARRAY['pending'::task_status, 'processing'::task_status]))
    AND (new.hold_usd IS NOT NULL) AND (new.user_id IS NOT NULL)))
  EXECUTE FUNCTION tasks_settle_hold();
