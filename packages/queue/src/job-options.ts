import type { JobsOptions } from "bullmq";

/** Backoff type the worker implements: exponential, but never sooner than a provider's `Retry-After`. */
export const PROVIDER_BACKOFF = "provider";

export function runTaskJobOptions(maxAttempts: number): JobsOptions {
  return {
    attempts: maxAttempts,
    backoff: { type: PROVIDER_BACKOFF, delay: 1000 },
    // Finished jobs are not needed for deduplication: the task row's status guards a re-run.
    removeOnComplete: { count: 1000 },
    removeOnFail: { age: 7 * 24 * 3600 },
  };
}
