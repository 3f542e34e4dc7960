import type { JobName, JobPayload } from "@aitasks/queue";
import type { Job } from "bullmq";
import type { WorkerDeps } from "../deps.js";

export type JobHandler<N extends JobName> = (deps: WorkerDeps, job: Job, payload: JobPayload<N>) => Promise<unknown>;
