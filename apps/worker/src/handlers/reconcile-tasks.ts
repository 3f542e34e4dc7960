import { enqueue, runTaskJobOptions } from "@aitasks/queue";
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
  return { stale: stale.length, requeued };
}

export const handleReconcileTasks: JobHandler<"reconcile-tasks"> = (deps) => reconcileTasks(deps);
