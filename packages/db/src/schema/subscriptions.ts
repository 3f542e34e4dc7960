import { sql } from "drizzle-orm";
import { bigint, boolean, index, pgTable, text, timestamp } from "drizzle-orm/pg-core";
import { users } from "./users.js";

/** A Stripe subscription as its latest applied event described it. */
export const subscriptions = pgTable(
  "subscriptions",
  {
    id: text("id").primaryKey(),
    userId: bigint("user_id", { mode: "number" }).references(() => users.id),
    stripeCustomerId: text("stripe_customer_id"),
    status: text("status").notNull(),
    priceId: text("price_id"),
    currentPeriodEnd: timestamp("current_period_end", { withTimezone: true, precision: 3 }),
    cancelAtPeriodEnd: boolean("cancel_at_period_end").notNull().default(false),
    // `created` of the Stripe event that set this state: an older event arriving late is ignored.
    stateAt: timestamp("state_at", { withTimezone: true, precision: 3 }).notNull(),
    createdAt: timestamp("created_at", { withTimezone: true, precision: 3 }).notNull().defaultNow(),
    updatedAt: timestamp("updated_at", { withTimezone: true, precision: 3 }).notNull().defaultNow(),
  },
  (t) => [
    index("subscriptions_user_id_idx").on(t.userId),
    index("subscriptions_active_idx").on(t.id).where(sql`${t.status} in ('active', 'trialing')`),
  ],
);
