import type { JobName, JobPayload } from "@aitasks/queue";
import type { Job } from "bullmq";
import type { WorkerDeps } from "../deps.js";

/**
 * A job's handler. `lockLost` aborts when this worker may no longer act on the job: its lock could
 * not be renewed (another worker may take it over), or the worker stops without waiting for it.
 */
export type JobHandler<N extends JobName> = (
  deps: WorkerDeps,
  job: Job,
  payload: JobPayload<N>,
  lockLost?: AbortSignal,
) => Promise<unknown>;
