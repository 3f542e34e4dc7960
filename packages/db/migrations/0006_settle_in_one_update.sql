-- A completed prepaid task moved its user's balance row twice: the hold's release, then its charge's
-- credit entry through that entry's own trigger. The settlement now does both in one update, and the
-- entry trigger leaves task charges to it. Every other source still moves the balance by its entry.
CREATE OR REPLACE FUNCTION credit_entries_move_balance() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO credit_balances AS b (user_id, balance)
  SELECT user_id, sum(amount) FROM new_rows WHERE source <> 'task' GROUP BY user_id
  ON CONFLICT (user_id) DO UPDATE SET balance = b.balance + excluded.balance;
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE OR REPLACE FUNCTION tasks_settle_holds() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  WITH finished AS (
    SELECT n.id, n.user_id, n.status, n.hold_usd, n.charged_usd, n.completed_at
    FROM new_rows n JOIN old_rows o ON o.id = n.id
    WHERE o.status IN ('pending', 'processing') AND n.status NOT IN ('pending', 'processing')
      AND n.hold_usd IS NOT NULL AND n.user_id IS NOT NULL
  ), charged AS (
    INSERT INTO credit_entries (user_id, source, source_key, amount, task_id, occurred_at)
    SELECT user_id, 'task', id::text, -charged_usd, id, coalesce(completed_at, now())
    FROM finished WHERE status = 'completed' AND charged_usd IS NOT NULL
    ON CONFLICT (source, source_key) DO NOTHING
    RETURNING user_id, amount
  ), per_user AS (
    SELECT f.user_id, sum(f.hold_usd) AS released,
      coalesce((SELECT sum(c.amount) FROM charged c WHERE c.user_id = f.user_id), 0) AS charged
    FROM finished f GROUP BY f.user_id
  )
  UPDATE credit_balances b SET held = b.held - p.released, balance = b.balance + p.charged
  FROM per_user p WHERE b.user_id = p.user_id;
  RETURN NULL;
END $$;
