-- What we know of each Stripe object whose money is booked: the most advanced state its events and
-- Stripe's API have shown (packages/ledger/src/stripe-objects.ts), so that the books are a function of
-- it, minus what is already booked, and an older state arriving late cannot move them back. An
-- object booked before this migration has no row until its next event, which books its state against
-- what is already booked for it.
CREATE TABLE "stripe_objects" (
	"kind" text NOT NULL,
	"id" text NOT NULL,
	"state" jsonb NOT NULL,
	"charge_id" text,
	"payment_intent_id" text,
	"created_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "stripe_objects_kind_id_pk" PRIMARY KEY("kind","id"),
	CONSTRAINT "stripe_objects_kind_check" CHECK ("stripe_objects"."kind" in ('payment', 'invoice', 'invoice_payment', 'refund', 'dispute', 'charge'))
);
--> statement-breakpoint
CREATE INDEX "stripe_objects_charge_id_idx" ON "stripe_objects" USING btree ("charge_id");--> statement-breakpoint
CREATE INDEX "stripe_objects_payment_intent_id_idx" ON "stripe_objects" USING btree ("payment_intent_id");