import type { AccessContext } from "@aitasks/auth";
import { arrayLiteral, directStatement, type Executor, tasks, users } from "@aitasks/db";
import { NotFoundError } from "@aitasks/errors";
import { eq, getTableColumns, sql } from "drizzle-orm";
import type { TaskRecord } from "./task-record.js";

/** A task's columns and its user's identifier (`user_id` in the API). */
export const taskWithUser = { ...getTableColumns(tasks), userIdentifier: users.identifier };

const tasksByIdStatement = directStatement(taskWithUser, (db, columns) =>
  db
    .select(columns)
    .from(tasks)
    .leftJoin(users, eq(users.id, tasks.userId))
    .where(sql`${tasks.id} = any(${sql.placeholder("taskIds")}::bigint[])`),
);

/** The tasks of `taskIds` that exist, in no particular order. */
export const findTasks = (db: Executor, taskIds: readonly number[]): Promise<TaskRecord[]> =>
  tasksByIdStatement(db, { taskIds: arrayLiteral(taskIds) });

export async function findTask(db: Executor, taskId: number): Promise<TaskRecord | undefined> {
  const [task] = await findTasks(db, [taskId]);
  return task;
}

/** How a task is read by id: `findTask` unless the wiring gives a reader that batches reads. */
export type TaskReader = (taskId: number) => Promise<TaskRecord | undefined>;

/**
 * The task, for whoever may see it: an admin or open mode sees every task, a user key its own
 * only. Another user's task is answered exactly like a missing one, so ids reveal nothing.
 */
export async function getTask(
  { db, principal, readTask }: AccessContext & { readTask?: TaskReader | undefined },
  taskId: number,
): Promise<TaskRecord> {
  const task = await (readTask ? readTask(taskId) : findTask(db, taskId));
  if (!task || (principal.role === "user" && task.userId !== principal.userId)) {
    throw new NotFoundError(`task ${taskId} not found`);
  }
  return task;
}
