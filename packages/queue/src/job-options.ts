import type { JobsOptions } from "bullmq";

/** Backoff type the worker implements: exponential, but never sooner than a provider's `Retry-After`. */
const PROVIDER_BACKOFF = "provider";

/**
 * How long finished jobs are kept, set on the workers (BullMQ applies a worker's rule to jobs that
 * name none) rather than stored in every job: a job's options are packed by the API and unpacked by
 * Redis on every add. Finished jobs are not needed for deduplication: the task row's status, and a
 * callback delivery's row, guard a re-run.
 */
export const FINISHED_JOBS_KEPT = {
  removeOnComplete: { count: 1000 },
  removeOnFail: { age: 7 * 24 * 3600 },
} as const satisfies JobsOptions;

/**
 * A task's job. `priority` is the task's (1 first, 10 last), set on every job: BullMQ runs a job
 * without one before any job with one, so a default of "none" would jump ahead of priority 1.
 * One frozen object per attempts and priority, shared by every job of that kind (BullMQ copies it).
 */
export function runTaskJobOptions(maxAttempts: number, priority: number): JobsOptions {
  let byPriority = runTaskOptions.get(maxAttempts);
  if (!byPriority) {
    byPriority = [];
    runTaskOptions.set(maxAttempts, byPriority);
  }
  let options = byPriority[priority];
  if (!options) {
    options = Object.freeze({
      attempts: maxAttempts,
      priority,
      backoff: Object.freeze({ type: PROVIDER_BACKOFF, delay: 1000 }),
    });
    byPriority[priority] = options;
  }
  return options;
}
const runTaskOptions = new Map<number, JobsOptions[]>();

/** Backoff type of deliver-callback jobs, which the worker implements (×3 per attempt from the base, capped). */
const CALLBACK_BACKOFF = "callback";

/**
 * A callback delivery's job. The delivery row counts attempts and decides when to stop; the job's
 * `attempts` only bounds BullMQ's own count (a job it gives up on is taken up by the reconciler).
 */
export function deliverCallbackJobOptions(maxAttempts: number, retryBaseMs: number): JobsOptions {
  return {
    attempts: maxAttempts,
    backoff: { type: CALLBACK_BACKOFF, delay: retryBaseMs },
  };
}
