import { QUEUE_JOB_STATES, type QueueJobCounts } from "@aitasks/queue";
import { Gauge, type Registry } from "prom-client";
import { withTimeout } from "./registry.js";
import type { SourceStatus } from "./sources.js";

/** What the queues hold, by state (BullMQ's getJobCounts). */
export type CountJobs = () => Promise<QueueJobCounts>;

/**
 * `aitasks_queue_jobs{queue,state}`, read from Redis at each scrape. A read that fails or takes
 * longer than `timeoutMs` leaves the gauge empty for that scrape (and the redis source at 0), so a
 * down Redis neither hangs the scrape nor shows stale depths.
 */
export function registerQueueMetrics(
  registry: Registry,
  sources: SourceStatus,
  countJobs: CountJobs,
  { timeoutMs }: { timeoutMs: number },
) {
  new Gauge({
    name: "aitasks_queue_jobs",
    help: "Jobs in each queue by state, read from Redis at scrape time (global: every API instance shows the same)",
    labelNames: ["queue", "state"] as const,
    registers: [registry],
    async collect() {
      this.reset();
      const queues = await sources.track("redis", withTimeout(countJobs(), timeoutMs, "counting the queues' jobs"));
      for (const { queue, counts } of queues ?? []) {
        for (const state of QUEUE_JOB_STATES) this.set({ queue, state }, counts[state] ?? 0);
      }
    },
  });
}
