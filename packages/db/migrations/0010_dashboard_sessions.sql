CREATE TABLE "dashboard_sessions" (
	"token_digest" "bytea" PRIMARY KEY NOT NULL,
	"admin_key_digest" "bytea" NOT NULL,
	"created_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	"expires_at" timestamp (3) with time zone NOT NULL
);
--> statement-breakpoint
CREATE INDEX "dashboard_sessions_expires_at_idx" ON "dashboard_sessions" USING btree ("expires_at");--> statement-breakpoint
CREATE INDEX "tasks_created_at_brin_idx" ON "tasks" USING brin ("created_at");