import { sql } from "drizzle-orm";
import { bigint, bigserial, index, pgTable, text, timestamp } from "drizzle-orm/pg-core";
import { users } from "./users.js";

/**
 * API keys of users. Only the SHA-256 of a key is stored: keys are 256 random bits, so a fast
 * hash is enough, and a leaked table reveals no usable key. `prefix` lets people tell keys apart.
 */
export const apiKeys = pgTable(
  "api_keys",
  {
    id: bigserial("id", { mode: "number" }).primaryKey(),
    userId: bigint("user_id", { mode: "number" })
      .notNull()
      .references(() => users.id),
    keyHash: text("key_hash").notNull().unique(),
    prefix: text("prefix").notNull(),
    createdAt: timestamp("created_at", { withTimezone: true, precision: 3 }).notNull().defaultNow(),
    revokedAt: timestamp("revoked_at", { withTimezone: true, precision: 3 }),
  },
  (t) => [index("api_keys_user_id_idx").on(t.userId).where(sql`${t.revokedAt} is null`)],
);
