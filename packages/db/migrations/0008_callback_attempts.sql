CREATE TYPE "public"."callback_delivery_state" AS ENUM('pending', 'delivered', 'failed', 'stopped');--> statement-breakpoint
CREATE TABLE "callback_attempts" (
	"task_id" bigint NOT NULL,
	"attempt" integer NOT NULL,
	"attempted_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	"status_code" smallint,
	"error" text,
	"duration_ms" integer,
	CONSTRAINT "callback_attempts_task_id_attempt_pk" PRIMARY KEY("task_id","attempt")
);
--> statement-breakpoint
CREATE TABLE "callback_deliveries" (
	"task_id" bigint PRIMARY KEY NOT NULL,
	"message_id" text NOT NULL,
	"state" "callback_delivery_state" DEFAULT 'pending' NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"next_attempt_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	"leased_until" timestamp (3) with time zone,
	"created_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	"finished_at" timestamp (3) with time zone
);
--> statement-breakpoint
ALTER TABLE "callback_attempts" ADD CONSTRAINT "callback_attempts_task_id_callback_deliveries_task_id_fk" FOREIGN KEY ("task_id") REFERENCES "public"."callback_deliveries"("task_id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "callback_deliveries" ADD CONSTRAINT "callback_deliveries_task_id_tasks_id_fk" FOREIGN KEY ("task_id") REFERENCES "public"."tasks"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "callback_deliveries_pending_next_attempt_at_idx" ON "callback_deliveries" USING btree ("next_attempt_at") WHERE "callback_deliveries"."state" = 'pending';--> statement-breakpoint
-- The callback's outbox row is written by the statement that finishes the task (whichever it is:
-- completion, failure, cancel), so no finished task with a callback_url can lack one. A row
-- trigger with a WHEN clause costs nothing for the tasks without a callback_url.
CREATE FUNCTION tasks_open_callback_delivery() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO callback_deliveries (task_id, message_id)
  VALUES (NEW.id, 'task_' || NEW.id || '_' || NEW.status)
  ON CONFLICT (task_id) DO NOTHING;
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE TRIGGER tasks_open_callback_delivery AFTER UPDATE OF status ON tasks FOR EACH ROW
  WHEN (OLD.status IN ('pending', 'processing') AND NEW.status NOT IN ('pending', 'processing')
    AND NEW.callback_url IS NOT NULL)
  EXECUTE FUNCTION tasks_open_callback_delivery();
