import { bigserial, pgTable, text, timestamp } from "drizzle-orm/pg-core";

/** A client of the service, known by the identifier it sends as `user_id` (an email or a name). */
export const users = pgTable("users", {
  id: bigserial("id", { mode: "number" }).primaryKey(),
  identifier: text("identifier").notNull().unique(),
  email: text("email"),
  stripeCustomerId: text("stripe_customer_id").unique(),
  createdAt: timestamp("created_at", { withTimezone: true, precision: 3 }).notNull().defaultNow(),
});
