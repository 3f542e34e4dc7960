import { type Executor, tasks, users } from "@aitasks/db";
import { ValidationError } from "@aitasks/errors";
import { and, desc, eq, lt, type SQL } from "drizzle-orm";
import { taskWithUser } from "./get-task.js";
import type { ListTasksQuery } from "./schemas.js";
import type { TaskRecord } from "./task-view.js";

// Cursors are opaque to clients; inside, the last id seen (ids grow with creation time).
const encodeCursor = (id: number) => Buffer.from(`t${id}`).toString("base64url");

function decodeCursor(cursor: string): number {
  const match = /^t([1-9]\d{0,14})$/.exec(Buffer.from(cursor, "base64url").toString("utf8"));
  if (!match?.[1]) throw new ValidationError("cursor is not valid: pass next_cursor from the previous page");
  return Number(match[1]);
}

/** Newest first, one page at a time. */
export async function listTasks(
  db: Executor,
  query: ListTasksQuery,
): Promise<{ tasks: TaskRecord[]; nextCursor: string | null }> {
  const conditions: SQL[] = [];
  if (query.status) conditions.push(eq(tasks.status, query.status));
  if (query.user_id) conditions.push(eq(users.identifier, query.user_id));
  if (query.cursor) conditions.push(lt(tasks.id, decodeCursor(query.cursor)));

  const rows = await db
    .select(taskWithUser)
    .from(tasks)
    .leftJoin(users, eq(users.id, tasks.userId))
    .where(and(...conditions))
    .orderBy(desc(tasks.id))
    .limit(query.limit + 1);

  const page = rows.slice(0, query.limit);
  const last = page.at(-1);
  return { tasks: page, nextCursor: rows.length > query.limit && last ? encodeCursor(last.id) : null };
}
