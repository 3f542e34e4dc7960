-- The status index keeps only the statuses that stay few (docs/performance.md): unfinished tasks,
-- which leave it as they finish, and failed or canceled ones. A completed task, most of the table,
-- no longer costs an entry at its completion, and a new task one entry instead of two (the
-- reconciler's index by updated_at goes: it reads the unfinished tasks through this one). A list of
-- completed tasks reads the primary key backwards. Building the two indexes holds writes to tasks
-- back while it runs (well under a second per million tasks: only the few statuses are indexed).
CREATE INDEX "tasks_unfinished_status_id_idx" ON "tasks" USING btree ("status","id") WHERE "tasks"."status" in ('pending', 'processing');--> statement-breakpoint
CREATE INDEX "tasks_unsuccessful_status_id_idx" ON "tasks" USING btree ("status","id") WHERE "tasks"."status" not in ('pending', 'processing', 'completed');--> statement-breakpoint
DROP INDEX "tasks_status_id_idx";--> statement-breakpoint
DROP INDEX "tasks_unfinished_updated_at_idx";
