import { fileURLToPath } from "node:url";
import { drizzle } from "drizzle-orm/postgres-js";
import { migrate } from "drizzle-orm/postgres-js/migrator";
import postgres from "postgres";
import { poolerRefusal } from "./client.js";

// ../migrations from packages/db/src, and from dist/<app>/main.mjs, where scripts/build.mjs copies them.
export const migrationsFolder = fileURLToPath(new URL("../migrations", import.meta.url));

// Any constant shared by every process of this service; it names the lock, nothing else.
const MIGRATION_LOCK_ID = 727_274_001;

/**
 * Applies the committed migrations. drizzle's migrator is not safe when several processes start
 * at once (drizzle-orm#874), so it runs under a Postgres advisory lock on its own connection.
 */
export async function migrateDatabase(url: string): Promise<void> {
  // IntervalStyle "postgres" is the default, sent so that PgBouncer, which refuses startup settings
  // it does not track, is found out before a session lock is taken through it.
  const sql = postgres(url, {
    max: 1,
    onnotice: () => {},
    connect_timeout: 10,
    connection: { IntervalStyle: "postgres" },
  });
  try {
    try {
      await sql`select pg_advisory_lock(${MIGRATION_LOCK_ID})`;
    } catch (error) {
      const refusal = poolerRefusal(error, "DATABASE_MIGRATION_URL");
      throw refusal ? new Error(refusal, { cause: error }) : error;
    }
    try {
      await migrate(drizzle(sql), { migrationsFolder });
    } finally {
      await sql`select pg_advisory_unlock(${MIGRATION_LOCK_ID})`;
    }
  } finally {
    await sql.end({ timeout: 5 });
  }
}
