import { findOverdueDeliveries } from "@aitasks/callbacks";
import { deliverCallbackJobOptions, enqueue, jobCatalog, runTaskJobOptions } from "@aitasks/queue";
import { findStaleTasks } from "@aitasks/tasks";
import type { Queue } from "bullmq";
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
  const requeued = await requeueMissingJobs(deps.queues.tasks, stale, {
    jobIdOf: ({ id: taskId }) => runTaskJobId({ taskId }),
    enqueue: ({ id: taskId, priority }) =>
      enqueue(deps.queues, "run-task", { taskId }, runTaskJobOptions(deps.config.TASK_MAX_ATTEMPTS, priority)),
  });
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
  const callbacksRequeued = await requeueMissingJobs(deps.queues.callbacks, overdue, {
    jobIdOf: (taskId) => jobCatalog["deliver-callback"].jobId({ taskId }),
    enqueue: (taskId) =>
      enqueue(
        deps.queues,
        "deliver-callback",
        { taskId },
        deliverCallbackJobOptions(CALLBACK_MAX_ATTEMPTS, CALLBACK_RETRY_BASE_MS),
      ),
  });
  if (callbacksRequeued > 0) {
    deps.logger.warn({ requeued: callbacksRequeued }, "reconciler queued callbacks whose job was missing");
  }
  return { overdueCallbacks: overdue.length, callbacksRequeued };
}

/**
 * Gives each item whose job on `queue` is missing, completed or failed its job again, and says how
 * many it did; an item whose job is waiting, delayed or running is left alone.
 */
async function requeueMissingJobs<Item>(
  queue: Queue,
  items: readonly Item[],
  job: { jobIdOf: (item: Item) => string; enqueue: (item: Item) => Promise<void> },
): Promise<number> {
  let requeued = 0;
  for (const item of items) {
    const existing = await queue.getJob(job.jobIdOf(item));
    const state = existing ? await existing.getState() : "missing";
    if (state === "failed" && existing) {
      // A failed job keeps its id, so adding it again would be a silent no-op: retry it instead.
      await existing.retry("failed");
    } else if (state === "missing" || state === "unknown" || state === "completed") {
      // A completed job keeps its id too: remove it first, or the new one would not be added.
      if (existing && state === "completed") await existing.remove();
      await job.enqueue(item);
    } else {
      continue;
    }
    requeued++;
  }
  return requeued;
}

export const handleReconcileTasks: JobHandler<"reconcile-tasks"> = (deps) => reconcileTasks(deps);
