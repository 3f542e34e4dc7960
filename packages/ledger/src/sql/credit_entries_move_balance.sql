-- A user's credit balance is the sum of the user's credit entries: each statement that books
-- entries moves the balances by their sum per user, in its own transaction (creating the balance
-- row on a user's first entry). Entries of a task's charge (`source = 'task'`) are left out: the
-- settlement (tasks_settle_hold.sql) moves the balance for them, in the same update that releases
-- the hold.
--
-- The current definition in the migrated database (migrations 0001, 0006), checked by
-- trigger-functions.test.ts. To change it, write a new migration and update this file with it.
CREATE OR REPLACE FUNCTION public.credit_entries_move_balance()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
BEGIN
  INSERT INTO credit_balances AS b (user_id, balance)
  SELECT user_id, sum(amount) FROM new_rows WHERE source <> 'task' GROUP BY user_id
  ON CONFLICT (user_id) DO UPDATE SET balance = b.balance + excluded.balance;
  RETURN NULL;
END $function$
;
CREATE TRIGGER credit_entries_move_balance AFTER INSERT ON public.credit_entries
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION credit_entries_move_balance();
