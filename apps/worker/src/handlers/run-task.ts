import { jobCatalog, type KeptAnswer } from "@aitasks/queue";
import { type AnswerKeeper, runTask } from "@aitasks/tasks";
import { DelayedError, type Job, UnrecoverableError } from "bullmq";
import type { Logger } from "pino";
import type { JobHandler } from "./job-handler.js";

/** How long keeping an answer waits for Redis: an unreachable Redis must not hold up its booking. */
const KEEP_TIMEOUT_MS = 2000;

export const handleRunTask: JobHandler<"run-task"> = async (deps, job, { taskId, answer }, lockLost) => {
  const call = deps.runningCalls.start(taskId);
  let result: Awaited<ReturnType<typeof runTask>>;
  try {
    result = await runTask({ db: deps.db, ...deps.taskRunner }, taskId, {
      signal: call.signal,
      keeper: jobAnswerKeeper(job, answer, deps.logger),
      stopBooking: lockLost,
    });
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

/**
 * A run's answer is kept in its job's data, in Redis: a later attempt of the job (after this worker
 * was killed, or gave up waiting for Postgres) and a retry of the failed job by the reconciler
 * both find it there, and the answer goes away with the job. One Redis command per answer.
 */
function jobAnswerKeeper(job: Job, kept: KeptAnswer | undefined, logger: Logger): AnswerKeeper {
  return {
    kept,
    async keep(answer) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`Redis did not answer within ${KEEP_TIMEOUT_MS} ms`)),
          KEEP_TIMEOUT_MS,
        );
      });
      try {
        // Object.assign, not a spread followed by `answer`: Node 20's slow path (docs/performance.md).
        await Promise.race([job.updateData(Object.assign({}, job.data, { answer })), timeout]);
      } catch (error) {
        logger.warn({ err: error }, "the provider's answer could not be kept in its job; booking it all the same");
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

export const runTaskJobId = jobCatalog["run-task"].jobId;
