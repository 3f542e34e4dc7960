import { drizzle } from "drizzle-orm/postgres-js";
import postgres from "postgres";
import * as schema from "./schema/index.js";

export interface DatabaseOptions {
  /** Connections in this process's pool. */
  max?: number;
  /** Seconds to wait for a connection before the query fails (and the API answers 503). */
  connectTimeoutSeconds?: number;
}

export function createDatabase(url: string, options: DatabaseOptions = {}) {
  const sql = postgres(url, {
    max: options.max ?? 10,
    connect_timeout: options.connectTimeoutSeconds ?? 5,
    onnotice: () => {},
    connection: { TimeZone: "UTC", application_name: "ai-task-service" },
  });
  const db = drizzle(sql, { schema });
  return {
    db,
    sql,
    close: () => sql.end({ timeout: 5 }),
  };
}

export type Database = ReturnType<typeof createDatabase>["db"];
/** A transaction handle, accepted wherever `Database` is, so writes that must agree can share one. */
export type Transaction = Parameters<Parameters<Database["transaction"]>[0]>[0];
export type Executor = Database | Transaction;
