import { collectDefaultMetrics, Registry } from "prom-client";
import { registerBuildInfo } from "./build-info.js";

export type { Registry } from "prom-client";

/**
 * prom-client's totals of active handles, requests and resources: gauges named with a counter's
 * `_total` suffix, which `promtool check metrics` refuses and `rate()` would misread. The same
 * figures are the sums of `nodejs_active_handles`, `nodejs_active_requests` and
 * `nodejs_active_resources` (by type), which stay.
 */
const MISNAMED_DEFAULT_METRICS = [
  "nodejs_active_handles_total",
  "nodejs_active_requests_total",
  "nodejs_active_resources_total",
];

/**
 * A registry of this process's own (never prom-client's global one, so that one test process can
 * build several apps), with Node's process metrics (CPU, memory, event loop lag, GC, handles) and
 * `aitasks_build_info`.
 */
export function createMetricsRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  for (const name of MISNAMED_DEFAULT_METRICS) registry.removeSingleMetric(name);
  registerBuildInfo(registry);
  return registry;
}

/** Resolves with `promise`'s value, or fails after `ms`: a down dependency must not hang a scrape. */
export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took more than ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
