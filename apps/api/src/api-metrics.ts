import { adminKeyDigests } from "@aitasks/auth";
import type { Database } from "@aitasks/db";
import {
  createHttpMetrics,
  createMetricsAccess,
  createMetricsRegistry,
  createSourceStatus,
  registerMoneyMetrics,
  registerQueueMetrics,
} from "@aitasks/metrics";
import type { PricingTable } from "@aitasks/providers";
import { countQueueJobs, type Queues } from "@aitasks/queue";
import { readMoneyTotals } from "@aitasks/reports";
import type { ApiConfig } from "./config.js";

/** A scrape waits this long for Redis or Postgres before it answers without their figures. */
const SOURCE_TIMEOUT_MS = 2000;

/**
 * The API's metrics: its own requests and process, plus the global figures read at scrape time,
 * the queues' depths (Redis) and the money counters (the ledger in Postgres). Workers serve only
 * their own, so no global figure is reported twice by different kinds of process.
 */
export function createApiMetrics(
  config: Pick<ApiConfig, "ADMIN_API_KEY" | "METRICS_TOKEN">,
  resources: { db: Database; queues: Queues; pricing: PricingTable },
) {
  const registry = createMetricsRegistry();
  const sources = createSourceStatus();
  registerQueueMetrics(registry, sources, () => countQueueJobs(resources.queues), { timeoutMs: SOURCE_TIMEOUT_MS });
  registerMoneyMetrics(registry, sources, () => readMoneyTotals(resources.db), {
    pricing: resources.pricing,
    timeoutMs: SOURCE_TIMEOUT_MS,
  });
  sources.register(registry);
  return {
    registry,
    http: createHttpMetrics(registry),
    access: createMetricsAccess({
      adminKeyDigests: adminKeyDigests(config.ADMIN_API_KEY),
      metricsToken: config.METRICS_TOKEN,
    }),
  };
}
export type ApiMetrics = ReturnType<typeof createApiMetrics>;
