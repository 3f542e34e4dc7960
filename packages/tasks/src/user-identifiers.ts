import { type Executor, preparedPerDatabase, users } from "@aitasks/db";
import { eq, sql } from "drizzle-orm";

/** Enough for every active user of a busy service; past it the oldest entries are dropped. */
const MAX_CACHED = 10_000;

const cachePerDatabase = new WeakMap<Executor, Map<number, string>>();

const identifierQuery = preparedPerDatabase((db) =>
  db
    .select({ identifier: users.identifier })
    .from(users)
    .where(eq(users.id, sql.placeholder("userId")))
    .prepare("user_identifier"),
);

/**
 * The identifier (`user_id` in the API) of user `userId`, from a per-process cache in front of the
 * users table. A task's reads join nothing then: the join was a large share of Postgres's work on
 * `GET /api/task/:id` (docs/performance.md). Caching is exact because
 * a user's identifier never changes and a user is never deleted (its tasks and ledger rows refer
 * to it), so an entry cannot go stale; the cache is per database handle, as ids are.
 */
export async function userIdentifierOf(db: Executor, userId: number): Promise<string | null> {
  const cached = cachedUserIdentifier(db, userId);
  if (cached !== undefined) return cached;
  let cache = cachePerDatabase.get(db);
  if (cache === undefined) {
    cache = new Map();
    cachePerDatabase.set(db, cache);
  }
  const [row] = await identifierQuery(db).execute({ userId });
  if (!row) return null;
  if (cache.size >= MAX_CACHED) cache.delete(cache.keys().next().value!);
  cache.set(userId, row.identifier);
  return row.identifier;
}

/** The cached identifier alone, without a promise: what a hot read tries first. */
export function cachedUserIdentifier(db: Executor, userId: number): string | undefined {
  return cachePerDatabase.get(db)?.get(userId);
}
