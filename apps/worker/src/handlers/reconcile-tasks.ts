import { findOverdueDeliveries } from "@aitasks/callbacks";
import { deliverCallbackJobOptions, enqueue, jobCatalog, runTaskJobOptions } from "@aitasks/queue";
import { findStaleTasks } from "@aitasks/tasks";
import type { WorkerDeps } from "../deps.js";
import type { JobHandler } from "./job-handler.js";
import { runTaskJobId } from "./run-task.js";

const BATCH = 500;

/**
 * Finds tasks whose job went missing (the enqueue after the insert was lost, or BullMQ gave up on
 * a job whose workers kept dying) and queues them again. Tasks whose job is waiting, delayed or
 * running are left alone, so running it often is harmless.
 */
export async function reconcileTasks(deps: WorkerDeps) {
  const stale = await findStaleTasks(deps.db, deps.config.RECONCILE_AFTER_MS, BATCH);
  const queue = deps.queues.tasks;
  let requeued = 0;
  for (const { id: taskId, priority } of stale) {
    const job = await queue.getJob(runTaskJobId({ taskId }));
    const state = job ? await job.getState() : "missing";
    if (state === "failed" && job) {
      // A failed job keeps its id, so adding it again would be a silent no-op: retry it instead.
      await job.retry("failed");
    } else if (state === "missing" || state === "unknown" || state === "completed") {
      if (job && state === "completed") await job.remove();
      await enqueue(deps.queues, "run-task", { taskId }, runTaskJobOptions(deps.config.TASK_MAX_ATTEMPTS, priority));
    } else {
      continue;
    }
    requeued++;
  }
  if (requeued > 0) deps.logger.warn({ requeued }, "reconciler queued tasks whose job was missing");
  const callbacks = await reconcileCallbacks(deps);
  return { stale: stale.length, requeued, ...callbacks };
}

/**
 * Queues the callbacks of finished tasks whose next attempt is overdue and whose job is missing
 * (the enqueue after the task's commit was lost) or was given up on by BullMQ. The delivery row
 * decides what is sent, so a job queued twice sends nothing twice.
 */
async function reconcileCallbacks(deps: WorkerDeps) {
  const overdue = await findOverdueDeliveries(deps.db, deps.config.RECONCILE_AFTER_MS, BATCH);
  const { CALLBACK_MAX_ATTEMPTS, CALLBACK_RETRY_BASE_MS } = deps.config;
  let callbacksRequeued = 0;
  for (const taskId of overdue) {
    const job = await deps.queues.callbacks.getJob(jobCatalog["deliver-callback"].jobId({ taskId }));
    const state = job ? await job.getState() : "missing";
    if (state === "failed" && job) {
      await job.retry("failed");
    } else if (state === "missing" || state === "unknown" || state === "completed") {
      if (job && state === "completed") await job.remove();
      await enqueue(
        deps.queues,
        "deliver-callback",
        { taskId },
        deliverCallbackJobOptions(CALLBACK_MAX_ATTEMPTS, CALLBACK_RETRY_BASE_MS),
      );
    } else {
      continue;
    }
    callbacksRequeued++;
  }
  if (callbacksRequeued > 0) {
    deps.logger.warn({ requeued: callbacksRequeued }, "reconciler queued callbacks whose job was missing");
  }
  return { overdueCallbacks: overdue.length, callbacksRequeued };
}

export const handleReconcileTasks: JobHandler<"reconcile-tasks"> = (deps) => reconcileTasks(deps);
