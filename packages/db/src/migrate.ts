import { fileURLToPath } from "node:url";
import { drizzle } from "drizzle-orm/postgres-js";
import { migrate } from "drizzle-orm/postgres-js/migrator";
import postgres from "postgres";
import { poolerRefusal, poolingOf } from "./client.js";

// ../migrations from packages/db/src, and from dist/<app>/main.mjs, where scripts/build.mjs copies them.
export const migrationsFolder = fileURLToPath(new URL("../migrations", import.meta.url));

// Any constant shared by every process of this service; it names the lock, nothing else.
const MIGRATION_LOCK_ID = 727_274_001;

/** The URL migrations run on and the variable it came from, or why there is none. */
export type MigrationTarget =
  | { url: string; variable: "DATABASE_MIGRATION_URL" | "DATABASE_URL" }
  | { refusal: string };

/**
 * Where migrations run: DATABASE_MIGRATION_URL, else DATABASE_URL (the processes and `npm run
 * db:migrate` alike). Migrations hold a session-level advisory lock (several processes start at
 * once); through PgBouncer's transaction pooling the lock would stay on whichever server connection
 * took it and block every later start, so a pooled DATABASE_URL (`?pgbouncer=true`) needs a direct
 * migration URL.
 */
export function chooseMigrationTarget(databaseUrl: string, migrationUrl: string | undefined): MigrationTarget {
  if (migrationUrl) {
    if (poolingOf(migrationUrl).pooled) {
      return {
        refusal: "DATABASE_MIGRATION_URL: must reach Postgres directly, not through PgBouncer (?pgbouncer=true)",
      };
    }
    return { url: migrationUrl, variable: "DATABASE_MIGRATION_URL" };
  }
  if (poolingOf(databaseUrl).pooled) {
    return {
      refusal:
        "DATABASE_MIGRATION_URL: required when DATABASE_URL goes through PgBouncer (?pgbouncer=true): " +
        "migrations hold a session lock, which transaction pooling would leave held; give Postgres's direct address",
    };
  }
  return { url: databaseUrl, variable: "DATABASE_URL" };
}

/**
 * Applies the committed migrations. drizzle's migrator is not safe when several processes start
 * at once (drizzle-orm#874), so it runs under a Postgres advisory lock on its own connection.
 * `variable` names where `url` came from, in the error when a pooler refuses the connection.
 */
export async function migrateDatabase(url: string, variable = "DATABASE_MIGRATION_URL"): Promise<void> {
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
      const refusal = poolerRefusal(error, variable);
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
