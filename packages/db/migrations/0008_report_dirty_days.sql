-- Which report periods are out of date, exact whatever the commit delay. The rollup used to
-- recompute the periods of ledger rows whose created_at (their transaction's start) was after its
-- previous run minus 5 minutes; a writer that committed later than that (held behind a lock, say)
-- was never rolled up. Now the writing transaction itself records the days its rows touch, so they
-- become dirty when, and only when, the rows become visible.
CREATE TABLE "report_dirty_days" (
	"day" date NOT NULL
);
--> statement-breakpoint
CREATE FUNCTION mark_report_days_dirty() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO report_dirty_days (day) SELECT DISTINCT (occurred_at AT TIME ZONE 'UTC')::date FROM new_rows;
  ELSIF TG_OP = 'DELETE' THEN
    INSERT INTO report_dirty_days (day) SELECT DISTINCT (occurred_at AT TIME ZONE 'UTC')::date FROM old_rows;
  ELSE
    INSERT INTO report_dirty_days (day)
    SELECT (occurred_at AT TIME ZONE 'UTC')::date FROM new_rows
    UNION SELECT (occurred_at AT TIME ZONE 'UTC')::date FROM old_rows;
  END IF;
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE TRIGGER mark_report_days_dirty_inserted AFTER INSERT ON ledger_entries REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION mark_report_days_dirty();
--> statement-breakpoint
CREATE TRIGGER mark_report_days_dirty_updated AFTER UPDATE ON ledger_entries
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION mark_report_days_dirty();
--> statement-breakpoint
CREATE TRIGGER mark_report_days_dirty_deleted AFTER DELETE ON ledger_entries REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION mark_report_days_dirty();
--> statement-breakpoint
-- Every day of the ledger once: periods the old rule missed are recomputed by the next rollup.
INSERT INTO report_dirty_days (day) SELECT DISTINCT (occurred_at AT TIME ZONE 'UTC')::date FROM ledger_entries;
