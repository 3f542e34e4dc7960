import type { AccessContext } from "@aitasks/auth";
import { directStatement, type Executor, tasks, users } from "@aitasks/db";
import { NotFoundError } from "@aitasks/errors";
import { eq, getTableColumns, sql } from "drizzle-orm";
import type { TaskRecord } from "./task-record.js";
import { cachedUserIdentifier, userIdentifierOf } from "./user-identifiers.js";

export const taskWithUser = { ...getTableColumns(tasks), userIdentifier: users.identifier };

const findTaskStatement = directStatement(getTableColumns(tasks), (db, columns) =>
  db
    .select(columns)
    .from(tasks)
    .where(eq(tasks.id, sql.placeholder("taskId"))),
);

/** The task with its user's identifier (from the cache of identifiers: no join per read). */
export async function findTask(db: Executor, taskId: number): Promise<TaskRecord | undefined> {
  const [task] = await findTaskStatement(db, { taskId });
  if (!task) return undefined;
  // Added to the row in place: on Node 20, `{ ...task, userIdentifier }` takes V8's slow path.
  const userIdentifier =
    task.userId === null ? null : (cachedUserIdentifier(db, task.userId) ?? (await userIdentifierOf(db, task.userId)));
  return Object.assign(task, { userIdentifier });
}

/**
 * The task, for whoever may see it: an admin or open mode sees every task, a user key its own
 * only. Another user's task is answered exactly like a missing one, so ids reveal nothing.
 */
export async function getTask({ db, principal }: AccessContext, taskId: number): Promise<TaskRecord> {
  const task = await findTask(db, taskId);
  if (!task || (principal.role === "user" && task.userId !== principal.userId)) {
    throw new NotFoundError(`task ${taskId} not found`);
  }
  return task;
}
