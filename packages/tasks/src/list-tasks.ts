import type { AccessContext } from "@aitasks/auth";
import { POSITIVE_ID, tasks, users } from "@aitasks/db";
import { ForbiddenError, ValidationError } from "@aitasks/errors";
import { and, desc, eq, lt, type SQL } from "drizzle-orm";
import { taskWithUser } from "./get-task.js";
import type { ListTasksQuery } from "./schemas.js";
import type { TaskRecord } from "./task-record.js";

// Cursors are opaque to clients; inside, the last id seen (ids grow with creation time).
const encodeCursor = (id: number) => Buffer.from(`t${id}`).toString("base64url");

function decodeCursor(cursor: string): number {
  const match = /^t(\d+)$/.exec(Buffer.from(cursor, "base64url").toString("utf8"));
  if (!match?.[1] || !POSITIVE_ID.test(match[1]))
    throw new ValidationError("cursor is not valid: pass next_cursor from the previous page");
  return Number(match[1]);
}

/** Newest first, one page at a time. A user key lists its own tasks only. */
export async function listTasks(
  { db, principal }: AccessContext,
  asked: ListTasksQuery,
): Promise<{ tasks: TaskRecord[]; nextCursor: string | null }> {
  if (principal.role === "user" && asked.user_id !== undefined && asked.user_id !== principal.identifier) {
    throw new ForbiddenError("a user API key may only list its own tasks");
  }
  const query = principal.role === "user" ? { ...asked, user_id: principal.identifier } : asked;
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
