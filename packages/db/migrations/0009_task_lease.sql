-- A run's lease on its task (owner and expiry): another run takes over only an expired lease, and
-- only the holder may finish the task, so a paused worker's late answer is never recorded.
ALTER TABLE "tasks" ADD COLUMN "lease_owner" text;--> statement-breakpoint
ALTER TABLE "tasks" ADD COLUMN "lease_expires_at" timestamp (3) with time zone;