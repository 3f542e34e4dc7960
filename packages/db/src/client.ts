import { drizzle } from "drizzle-orm/postgres-js";
import postgres from "postgres";
import * as schema from "./schema/index.js";

// biome-ignore lint/suspicious/noExplicitAny: a client or a transaction of any type parameters.
type Client = postgres.Sql<any> | postgres.TransactionSql<any>;
type Callback = (client: Client) => unknown;

/**
 * The client as drizzle should see it: every statement prepared. drizzle runs each query it was
 * not given a name for with `prepare: false`, and postgres.js then sends a parameterized statement
 * in two round trips (describe it, then execute it) and Postgres parses and plans it every time.
 * A statement without parameters went by the simple protocol instead, parsed and planned every
 * time (/api/stats planned its ten sums anew per request; docs/performance.md has the figures).
 * Prepared, a statement is described and planned once per connection and then costs one round trip.
 * Our query texts are fixed by the code (no variable-length IN lists), so each connection holds a
 * few dozen prepared statements at most.
 */
function preparingEveryStatement<C extends Client>(client: C, prepare: boolean): C {
  return new Proxy(client, {
    get(target, property, receiver) {
      if (property === "unsafe") {
        return (query: string, parameters?: unknown[], options?: object) =>
          // `simple` is missing from postgres.js's types; it defaults to true for no parameters.
          target.unsafe(
            query,
            parameters as never,
            {
              simple: false,
              ...options,
              prepare,
            } as postgres.UnsafeQueryOptions,
          );
      }
      if (property === "begin" || property === "savepoint") {
        return (...args: unknown[]) => {
          const callback = args.pop() as Callback;
          const method = (target as unknown as Record<string, (...a: unknown[]) => unknown>)[property]!;
          return method.call(target, ...args, (transaction: Client) =>
            callback(preparingEveryStatement(transaction, prepare)),
          );
        };
      }
      return Reflect.get(target, property, receiver);
    },
  });
}

export interface DatabaseOptions {
  /** Connections in this process's pool. */
  max?: number;
  /** Seconds to wait for a connection before the query fails (and the API answers 503). */
  connectTimeoutSeconds?: number;
  /** Bounds on this pool's sessions; see `SESSION_LIMITS`. */
  sessionLimits?: Partial<typeof SESSION_LIMITS>;
}

/**
 * Every session of ours is bounded, so that someone else's long transaction or lock turns into an
 * error we answer (503, or a job retry) instead of a request or a job that waits for minutes:
 * a lock is waited for at most `lock_timeout`, a statement runs at most `statement_timeout`, and a
 * transaction of ours left idle (a bug) is ended after `idle_in_transaction_session_timeout`, so it
 * cannot hold its locks for others to wait on. Our statements take milliseconds; the full rollup of
 * a large ledger (`npm run reports:rollup -- --full`) sets its own limit.
 */
export const SESSION_LIMITS = {
  lock_timeout: 5_000,
  statement_timeout: 30_000,
  idle_in_transaction_session_timeout: 15_000,
};

/**
 * A `DATABASE_URL` that goes through PgBouncer in transaction pooling says so with
 * `?pgbouncer=true` (the convention Prisma uses). Each transaction may then run on another server
 * connection, so the pool is used as PgBouncer allows (versions before 1.21 keep no prepared
 * statements across transactions, and refuse startup parameters other than a few):
 * - statements are unnamed (parsed and planned each time: the cost is in docs/scaling.md);
 * - the session limits are not sent at connection; set them on the role instead
 *   (`ALTER ROLE ... SET statement_timeout = '30s'`, docs/scaling.md);
 * - migrations, which hold a session lock, need a direct DATABASE_MIGRATION_URL.
 */
export function poolingOf(url: string): { url: string; pooled: boolean } {
  const parsed = new URL(url);
  const pooled = parsed.searchParams.get("pgbouncer") === "true";
  parsed.searchParams.delete("pgbouncer");
  return { url: parsed.toString(), pooled };
}

/**
 * Why `error` happened, when it is PgBouncer refusing the session settings of a connection that
 * was not told it goes through a pooler; undefined for any other error.
 */
export function poolerRefusal(error: unknown, variable: string): string | undefined {
  const message = error instanceof Error ? error.message : "";
  if (!/unsupported startup parameter/.test(message)) return undefined;
  return (
    `${variable}: the server refused a session setting (${message}), as PgBouncer does: add ?pgbouncer=true ` +
    "to DATABASE_URL for transaction pooling, and set DATABASE_MIGRATION_URL to Postgres's direct address"
  );
}

export function createDatabase(databaseUrl: string, options: DatabaseOptions = {}) {
  const { url, pooled } = poolingOf(databaseUrl);
  const sql = postgres(url, {
    max: options.max ?? 10,
    connect_timeout: options.connectTimeoutSeconds ?? 5,
    // After failed connections postgres.js waits this many seconds before the next attempt, and only
    // then starts connect_timeout. Its default grows with every failure in the pool up to 20 s, so
    // during an outage a request waited up to 25 s for its 503; capped here at half a second.
    // Attempts are only made for waiting queries, so a short delay does not hammer a down server.
    backoff: (retries: number) => (0.5 + Math.random() / 2) * Math.min(3 ** retries / 100, 0.5),
    onnotice: () => {},
    connection: {
      // The two that PgBouncer passes on; the limits only on a connection of our own.
      TimeZone: "UTC",
      application_name: "ai-task-service",
      ...(pooled ? {} : { ...SESSION_LIMITS, ...options.sessionLimits }),
    },
  });
  const db = drizzle(preparingEveryStatement(sql, !pooled), { schema });
  return {
    db,
    sql,
    close: () => sql.end({ timeout: 5 }),
  };
}

export type Database = ReturnType<typeof createDatabase>["db"];

/**
 * The string `code`s of an error and of its causes, outermost first: drizzle wraps driver errors in
 * its own, so a SQLSTATE or a connection code may sit a few causes down.
 */
export function errorCodesOf(error: unknown): string[] {
  const codes: string[] = [];
  for (let current = error, depth = 0; current && depth < 5; current = (current as Error).cause, depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === "string") codes.push(code);
  }
  return codes;
}

// The codes of a connection that could not be made or was lost, from the OS or postgres.js.
const CONNECTION_LOST_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EPIPE",
  "CONNECT_TIMEOUT",
  "CONNECTION_CLOSED",
  "CONNECTION_ENDED",
  "CONNECTION_DESTROYED",
]);

/** Whether an error code says a connection could not be made or was lost. */
export const isConnectionLostCode = (code: string): boolean => CONNECTION_LOST_CODES.has(code);

/** Whether an error, or one of its causes, is a connection that could not be made or was lost. */
export const isConnectionLost = (error: unknown): boolean => errorCodesOf(error).some(isConnectionLostCode);

/**
 * Whether Postgres refused a statement for the values it was given (SQLSTATE classes 22 and 23, or
 * an exception raised by a trigger): an error that belongs to the rows, not to the connection or
 * the server's load.
 */
export const isRefusedData = (error: unknown): boolean => errorCodesOf(error).some((code) => /^(22|23|P0)/.test(code));
/** A transaction handle, accepted wherever `Database` is, so writes that must agree can share one. */
export type Transaction = Parameters<Parameters<Database["transaction"]>[0]>[0];
export type Executor = Database | Transaction;
