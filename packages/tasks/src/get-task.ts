import { type Executor, tasks, users } from "@aitasks/db";
import { NotFoundError } from "@aitasks/errors";
import { eq, getTableColumns } from "drizzle-orm";
import type { TaskRecord } from "./task-view.js";

export const taskWithUser = { ...getTableColumns(tasks), userIdentifier: users.identifier };

export async function findTask(db: Executor, taskId: number): Promise<TaskRecord | undefined> {
  const [task] = await db
    .select(taskWithUser)
    .from(tasks)
    .leftJoin(users, eq(users.id, tasks.userId))
    .where(eq(tasks.id, taskId));
  return task;
}

export async function getTask(db: Executor, taskId: number): Promise<TaskRecord> {
  const task = await findTask(db, taskId);
  if (!task) throw new NotFoundError(`task ${taskId} not found`);
  return task;
}
