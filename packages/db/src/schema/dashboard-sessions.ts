import { customType, index, pgTable, timestamp } from "drizzle-orm/pg-core";

const bytea = customType<{ data: Buffer; driverData: Buffer }>({ dataType: () => "bytea" });
const timestamptz = (name: string) => timestamp(name, { withTimezone: true, precision: 3 });

/**
 * The operator dashboard's sign-ins. The cookie carries a random token; only its SHA-256 is kept,
 * so a copy of this table signs nobody in. `admin_key_digest` is the SHA-256 of the admin key's
 * digest the session was opened with: once that key leaves ADMIN_API_KEY, its sessions end.
 * Signing out deletes the row, so a copied cookie stops working at once, on every API process.
 */
export const dashboardSessions = pgTable(
  "dashboard_sessions",
  {
    tokenDigest: bytea("token_digest").primaryKey(),
    adminKeyDigest: bytea("admin_key_digest").notNull(),
    createdAt: timestamptz("created_at").notNull().defaultNow(),
    expiresAt: timestamptz("expires_at").notNull(),
  },
  // Sign-in sweeps expired rows by this index.
  (t) => [index("dashboard_sessions_expires_at_idx").on(t.expiresAt)],
);
