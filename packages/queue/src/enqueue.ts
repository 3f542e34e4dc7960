import type { JobsOptions } from "bullmq";
import { type JobName, type JobPayload, jobCatalog } from "./job-catalog.js";
import type { Queues } from "./queues.js";

/** How long `enqueue` waits for Redis before giving up on a job (the reconciler adds it later). */
export const ENQUEUE_TIMEOUT_MS = 2000;

/**
 * Adds a job from the catalog. The id comes from the entity, so adding twice is harmless.
 * A Redis that is down can make `add` hang forever (even without an offline queue), so it is
 * bounded by `timeoutMs`; the task row is the truth and the reconciler re-adds what was lost.
 */
export async function enqueue<N extends JobName>(
  queues: Queues,
  name: N,
  payload: JobPayload<N>,
  options: JobsOptions = {},
  timeoutMs = ENQUEUE_TIMEOUT_MS,
): Promise<void> {
  const entry = jobCatalog[name];
  const data = entry.payload.parse(payload);
  const add = queues[entry.queue].add(name, data, withJobId(options, entry.jobId(data as never)));
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`enqueue of ${name} timed out after ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    await Promise.race([add, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Adds many jobs of one kind in one call (`addBulk`), bounded by `timeoutMs` as `enqueue` is. */
export async function enqueueMany<N extends JobName>(
  queues: Queues,
  name: N,
  jobs: { payload: JobPayload<N>; options?: JobsOptions }[],
  timeoutMs = 5000,
): Promise<void> {
  const entry = jobCatalog[name];
  const bulk = jobs.map(({ payload, options }) => {
    const data = entry.payload.parse(payload);
    return { name, data, opts: withJobId(options, entry.jobId(data as never)) };
  });
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`enqueue of ${jobs.length} ${name} jobs timed out after ${timeoutMs} ms`)),
      timeoutMs,
    );
  });
  try {
    await Promise.race([queues[entry.queue].addBulk(bulk), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The options with the catalog's job id. Not `{ ...options, jobId }`: on Node 20 a spread followed
 * by more properties takes V8's slow path, about a microsecond per job here (docs/performance.md).
 */
const withJobId = (options: JobsOptions | undefined, jobId: string): JobsOptions =>
  Object.assign({}, options, { jobId });
