import type { JobName, JobPayload, Queues } from "@aitasks/queue";
import type { RunTaskDeps } from "@aitasks/tasks";
import type { Job } from "bullmq";
import type { Logger } from "pino";
import type { WorkerConfig } from "../config.js";

export interface WorkerDeps {
  config: Pick<WorkerConfig, "TASK_MAX_ATTEMPTS" | "RECONCILE_AFTER_MS">;
  runTask: RunTaskDeps;
  queues: Queues;
  logger: Logger;
}

export type JobHandler<N extends JobName> = (deps: WorkerDeps, job: Job, payload: JobPayload<N>) => Promise<unknown>;
