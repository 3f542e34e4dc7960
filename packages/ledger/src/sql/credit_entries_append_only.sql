-- The credit ledger is append-only: an entry is never changed or removed, a correction is a new
-- entry (so a balance can always be recomputed from its entries).
--
-- The current definition in the migrated database (migration 0001), checked by
-- trigger-functions.test.ts. To change it, write a new migration and update this file with it.
CREATE OR REPLACE FUNCTION public.credit_entries_append_only()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
BEGIN
  RAISE EXCEPTION 'credit_entries is append-only: book a correcting entry instead';
END $function$
;
CREATE TRIGGER credit_entries_append_only BEFORE DELETE OR UPDATE ON public.credit_entries
  FOR EACH ROW EXECUTE FUNCTION credit_entries_append_only();
