import { type Executor, tasks } from "@aitasks/db";
import { and, asc, inArray, lt, sql } from "drizzle-orm";

/**
 * Unfinished tasks nobody has touched for `olderThanMs` (by Postgres's clock, which every
 * machine shares): their job may have been lost. Oldest first by creation, at most `limit`: the
 * statement reads the unfinished tasks' status index in id order and stops at the limit.
 */
export async function findStaleTasks(
  db: Executor,
  olderThanMs: number,
  limit: number,
): Promise<{ id: number; priority: number }[]> {
  return db
    .select({ id: tasks.id, priority: tasks.priority })
    .from(tasks)
    .where(
      and(
        inArray(tasks.status, ["pending", "processing"]),
        lt(tasks.updatedAt, sql`now() - make_interval(secs => ${olderThanMs / 1000})`),
      ),
    )
    .orderBy(asc(tasks.id))
    .limit(limit);
}
