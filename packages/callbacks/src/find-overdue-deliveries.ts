import type { Executor } from "@aitasks/db";
import { sql } from "drizzle-orm";

/**
 * Pending deliveries whose next attempt was due more than `overdueMs` ago and that no attempt
 * holds: their job may be lost (an enqueue that failed after the task's commit, a crash between
 * the two, a job BullMQ gave up on). Most overdue first, at most `limit`.
 */
export async function findOverdueDeliveries(db: Executor, overdueMs: number, limit: number): Promise<number[]> {
  const rows = await db.execute<{ task_id: string }>(sql`
    select task_id::text from callback_deliveries
    where state = 'pending' and next_attempt_at < now() - make_interval(secs => ${overdueMs / 1000})
      and (leased_until is null or leased_until <= now())
    order by next_attempt_at limit ${limit}`);
  return rows.map((row) => Number(row.task_id));
}
