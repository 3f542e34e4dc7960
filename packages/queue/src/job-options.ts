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

/** Backoff type of deliver-callback jobs, which the worker implements (×3 per attempt from the base, capped). */
export const CALLBACK_BACKOFF = "callback";

/**
 * A callback delivery's job. The delivery row counts attempts and decides when to stop; the job's
 * `attempts` only bounds BullMQ's own count (a job it gives up on is taken up by the reconciler).
 */
export function deliverCallbackJobOptions(maxAttempts: number, retryBaseMs: number): JobsOptions {
  return {
    attempts: maxAttempts,
    backoff: { type: CALLBACK_BACKOFF, delay: retryBaseMs },
    // The delivery row's state guards a re-run, so finished jobs need not be kept for deduplication.
    removeOnComplete: { count: 1000 },
    removeOnFail: { age: 7 * 24 * 3600 },
  };
}
