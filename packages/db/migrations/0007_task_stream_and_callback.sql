ALTER TABLE "tasks" ADD COLUMN "stream" boolean DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE "tasks" ADD COLUMN "callback_url" text;