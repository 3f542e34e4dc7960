import type { AccessContext } from "@aitasks/auth";
import { getTask, type TaskReader } from "./get-task.js";
import { FINAL_STATUSES } from "./schemas.js";
import type { TaskRecord } from "./task-record.js";

/** Tells a waiting request that a task reached a final state (fed by the workers' announcements). */
export interface TaskFinishedSignal {
  /** Resolves when the task is announced as finished, or after `timeoutMs`, whichever is first. */
  wait(taskId: number, timeoutMs: number): { finished: Promise<void>; cancel: () => void };
}

/**
 * Holds until the task ends or `timeoutMs` passes, then returns it as stored. It reads the row
 * twice at most: it listens for the workers' announcement instead of polling Postgres.
 */
export async function waitForTask(
  deps: AccessContext & { readTask?: TaskReader | undefined; taskFinished: TaskFinishedSignal },
  taskId: number,
  timeoutMs: number,
): Promise<TaskRecord> {
  // Listen before reading, so an announcement between the read and the wait is not missed.
  const listener = deps.taskFinished.wait(taskId, timeoutMs);
  const task = await getTask(deps, taskId);
  if (FINAL_STATUSES.has(task.status)) {
    listener.cancel();
    return task;
  }
  await listener.finished;
  return getTask(deps, taskId);
}
