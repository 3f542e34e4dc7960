import type { JobsOptions } from "bullmq";

/** Backoff type the worker implements: exponential, but never sooner than a provider's `Retry-After`. */
export const PROVIDER_BACKOFF = "provider";

/**
 * A task's job. `priority` is the task's (1 first, 10 last), set on every job: BullMQ runs a job
 * without one before any job with one, so a default of "none" would jump ahead of priority 1.
 */
export function runTaskJobOptions(maxAttempts: number, priority: number): JobsOptions {
  return {
    attempts: maxAttempts,
    priority,
    backoff: { type: PROVIDER_BACKOFF, delay: 1000 },
    // Finished jobs are not needed for deduplication: the task row's status guards a re-run.
    removeOnComplete: { count: 1000 },
    removeOnFail: { age: 7 * 24 * 3600 },
  };
}
