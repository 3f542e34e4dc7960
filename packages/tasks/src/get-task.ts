import type { AccessContext } from "@aitasks/auth";
import { type Executor, preparedPerDatabase, tasks, users } from "@aitasks/db";
import { NotFoundError } from "@aitasks/errors";
import { eq, getTableColumns, sql } from "drizzle-orm";
import type { TaskRecord } from "./task-record.js";

export const taskWithUser = { ...getTableColumns(tasks), userIdentifier: users.identifier };

const findTaskQuery = preparedPerDatabase((db) =>
  db
    .select(taskWithUser)
    .from(tasks)
    .leftJoin(users, eq(users.id, tasks.userId))
    .where(eq(tasks.id, sql.placeholder("taskId")))
    .prepare("find_task"),
);

export async function findTask(db: Executor, taskId: number): Promise<TaskRecord | undefined> {
  const [task] = await findTaskQuery(db).execute({ taskId });
  return task;
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
