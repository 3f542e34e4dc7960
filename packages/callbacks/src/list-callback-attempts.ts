import type { AccessContext } from "@aitasks/auth";
import { callbackAttempts, callbackDeliveries } from "@aitasks/db";
import { FINAL_STATUSES, getTask, type TaskRecord } from "@aitasks/tasks";
import { asc, eq } from "drizzle-orm";

export type CallbackAttemptRecord = typeof callbackAttempts.$inferSelect;
export type CallbackDeliveryRecord = typeof callbackDeliveries.$inferSelect;

/**
 * none: the task has no callback_url; waiting: the task has not finished; then the delivery's
 * own state (pending while attempts go on).
 */
export type CallbackState = "none" | "waiting" | CallbackDeliveryRecord["state"];

export interface TaskCallbacks {
  task: TaskRecord;
  state: CallbackState;
  delivery: CallbackDeliveryRecord | undefined;
  attempts: CallbackAttemptRecord[];
}

/** A task's callback and every attempt at it, for whoever may see the task (another user's is 404). */
export async function listCallbackAttempts(context: AccessContext, taskId: number): Promise<TaskCallbacks> {
  const task = await getTask(context, taskId);
  const [delivery] = await context.db.select().from(callbackDeliveries).where(eq(callbackDeliveries.taskId, taskId));
  const attempts = delivery
    ? await context.db
        .select()
        .from(callbackAttempts)
        .where(eq(callbackAttempts.taskId, taskId))
        .orderBy(asc(callbackAttempts.attempt))
    : [];
  const state: CallbackState = !task.callbackUrl
    ? "none"
    : !FINAL_STATUSES.has(task.status)
      ? "waiting"
      : (delivery?.state ?? "pending");
  return { task, state, delivery, attempts };
}
