import { adminKeyDigests } from "@aitasks/auth";
import { createMetricsAccess, createMetricsRegistry, createTaskMetrics } from "@aitasks/metrics";
import type { WorkerConfig } from "./config.js";

/**
 * A worker process's metrics: its process and the tasks it ran (through the run-task observer).
 * The global figures (queues, money) are the API's: a fleet of workers would report each one as
 * many times as there are workers.
 */
export function createWorkerMetrics(config: Pick<WorkerConfig, "ADMIN_API_KEY" | "METRICS_TOKEN" | "pricing">) {
  const registry = createMetricsRegistry();
  return {
    registry,
    tasks: createTaskMetrics(registry, config.pricing),
    access: createMetricsAccess({
      adminKeyDigests: adminKeyDigests(config.ADMIN_API_KEY),
      metricsToken: config.METRICS_TOKEN,
    }),
  };
}
export type WorkerMetrics = ReturnType<typeof createWorkerMetrics>;
