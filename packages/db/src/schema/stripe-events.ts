import { jsonb, pgTable, text, timestamp } from "drizzle-orm/pg-core";

/** Every verified Stripe event, once: the key that makes each delivery apply at most once, and the audit trail. */
export const stripeEvents = pgTable("stripe_events", {
  id: text("id").primaryKey(),
  type: text("type").notNull(),
  payload: jsonb("payload").notNull(),
  createdAt: timestamp("created_at", { withTimezone: true, precision: 3 }).notNull(),
  // Why a handled event booked nothing: its object lacked what the handler needs (null when applied).
  problem: text("problem"),
  processedAt: timestamp("processed_at", { withTimezone: true, precision: 3 }).notNull().defaultNow(),
});
