import type { AccessContext } from "@aitasks/auth";
import { tasks } from "@aitasks/db";
import { ConflictError, NotFoundError } from "@aitasks/errors";
import { and, eq, inArray, sql } from "drizzle-orm";
import { getTask } from "./get-task.js";
import type { TaskRecord } from "./task-record.js";

/** A task that had already finished: its status is the reason it cannot be canceled. */
export class TaskFinishedError extends ConflictError {
  constructor(readonly status: TaskRecord["status"]) {
    super(`the task is already ${status}`);
    this.details = { status };
  }
}

/**
 * Cancels an unfinished task, for whoever may see it (another user's is answered as missing). The
 * row becomes `canceled` in one statement whatever a worker is doing: a pending task never runs
 * (a claim takes only pending or processing tasks, however often its job is delivered), a
 * processing one has its answer refused when it comes (only a processing task completes), and its
 * hold is released without a charge (by trigger). `onCanceled` then tells the workers, so the one
 * calling the provider aborts the call; if that message is lost, the call runs to its end, unpaid
 * by the user.
 */
export async function cancelTask(
  context: AccessContext & {
    onCanceled: (taskId: number) => Promise<void>;
    /** Queues the callback of a canceled task that has a callback_url; a lost one is recovered by the reconciler. */
    queueCallback?: (taskId: number) => Promise<void>;
  },
  taskId: number,
): Promise<TaskRecord> {
  const task = await getTask(context, taskId);
  const canceled = await context.db
    .update(tasks)
    .set({
      status: "canceled",
      error: "canceled by the client",
      completedAt: sql`now()`,
      updatedAt: sql`now()`,
      leaseExpiresAt: sql`now()`,
    })
    .where(and(eq(tasks.id, task.id), inArray(tasks.status, ["pending", "processing"])))
    .returning({ id: tasks.id });
  if (canceled.length === 0) {
    const now = await getTask(context, taskId).catch(() => undefined);
    if (!now) throw new NotFoundError(`task ${taskId} not found`);
    throw new TaskFinishedError(now.status);
  }
  // Told whatever the status was when read: a worker may have claimed the task since.
  await context.onCanceled(task.id).catch(() => {});
  if (task.callbackUrl && context.queueCallback) await context.queueCallback(task.id).catch(() => {});
  return getTask(context, taskId);
}
