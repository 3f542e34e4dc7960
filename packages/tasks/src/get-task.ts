import { type Executor, preparedPerDatabase, tasks, users } from "@aitasks/db";
import { NotFoundError } from "@aitasks/errors";
import { eq, getTableColumns, sql } from "drizzle-orm";
import type { TaskRecord } from "./task-view.js";

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

export async function getTask(db: Executor, taskId: number): Promise<TaskRecord> {
  const task = await findTask(db, taskId);
  if (!task) throw new NotFoundError(`task ${taskId} not found`);
  return task;
}
