import type { JobsOptions } from "bullmq";
import { type JobName, type JobPayload, jobCatalog } from "./job-catalog.js";
import type { Queues } from "./queues.js";

/**
 * Adds a job from the catalog. The id comes from the entity, so adding twice is harmless.
 * A Redis that is down can make `add` hang forever (even without an offline queue), so it is
 * bounded by `timeoutMs`; the task row is the truth and the reconciler re-adds what was lost.
 */
export async function enqueue<N extends JobName>(
  queues: Queues,
  name: N,
  payload: JobPayload<N>,
  options: JobsOptions & { timeoutMs?: number } = {},
): Promise<void> {
  const entry = jobCatalog[name];
  const { timeoutMs = 2000, ...jobOptions } = options;
  const data = entry.payload.parse(payload);
  const add = queues[entry.queue].add(name, data, { ...jobOptions, jobId: entry.jobId(data as never) });
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
