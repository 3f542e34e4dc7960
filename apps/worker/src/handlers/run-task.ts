import { jobCatalog } from "@aitasks/queue";
import { runTask } from "@aitasks/tasks";
import { UnrecoverableError } from "bullmq";
import type { JobHandler } from "./job-handler.js";

export const handleRunTask: JobHandler<"run-task"> = async (deps, job, { taskId }) => {
  const finalAttempt = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
  const result = await runTask(deps.runTask, taskId, { finalAttempt });
  job.log(`${result.outcome}${result.outcome === "failed" ? `: ${result.error}` : ""}`).catch(() => {});
  // The task row already says `failed`; this keeps the job in BullMQ's failed set too, without retries.
  if (result.outcome === "failed") throw new UnrecoverableError(result.error);
};

export const runTaskJobId = jobCatalog["run-task"].jobId;
