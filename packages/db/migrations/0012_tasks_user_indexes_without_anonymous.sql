-- Tasks without a user (open billing without user_id) leave the two user indexes: nothing looks
-- them up by user, and each cost two index entries at every write (docs/performance.md). Building
-- the indexes again holds writes to tasks back while it runs (about 1 s per million tasks).
DROP INDEX "tasks_user_id_id_idx";--> statement-breakpoint
DROP INDEX "tasks_unfinished_user_id_idx";--> statement-breakpoint
CREATE INDEX "tasks_user_id_id_idx" ON "tasks" USING btree ("user_id","id") WHERE "tasks"."user_id" is not null;--> statement-breakpoint
CREATE INDEX "tasks_unfinished_user_id_idx" ON "tasks" USING btree ("user_id") WHERE "tasks"."status" in ('pending', 'processing') and "tasks"."user_id" is not null;