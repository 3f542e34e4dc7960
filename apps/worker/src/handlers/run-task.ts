import { jobCatalog } from "@aitasks/queue";
import { runTask } from "@aitasks/tasks";
import { DelayedError, UnrecoverableError } from "bullmq";
import type { JobHandler } from "./job-handler.js";

export const handleRunTask: JobHandler<"run-task"> = async (deps, job, { taskId }) => {
  const call = deps.runningCalls.start(taskId);
  let result: Awaited<ReturnType<typeof runTask>>;
  try {
    result = await runTask({ db: deps.db, ...deps.taskRunner }, taskId, call.signal);
  } finally {
    call.end();
  }
  if (result.outcome === "retryable") {
    // The queue owns retrying: another attempt with backoff, or, on the job's last attempt, the task fails.
    const finalAttempt = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
    if (!finalAttempt) throw result.error;
    result = await result.giveUp();
  }
  // One line per run, bound to the task (the job's logger); the error stays on the task row.
  deps.logger.info({ outcome: result.outcome, attempt: job.attemptsMade + 1 }, "task run ended");
  // The usual outcome needs no log line on the job: that would be one more Redis command per task.
  if (result.outcome === "skipped") job.log("skipped: another run already finished the task").catch(() => {});
  // Another run holds the task (this job was delivered again while that run's worker paused): come
  // back when its lease ends, without using up an attempt.
  if (result.outcome === "leased") {
    await job.moveToDelayed(result.until.getTime() + 100, job.token);
    throw new DelayedError();
  }
  // The task row already says `failed`; this keeps the job in BullMQ's failed set too, without retries.
  if (result.outcome === "failed") throw new UnrecoverableError(result.error);
};

export const runTaskJobId = jobCatalog["run-task"].jobId;
