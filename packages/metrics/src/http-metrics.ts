import { Counter, Histogram, type Registry } from "prom-client";
import { methodLabel, routeLabel } from "./labels.js";

// Most answers take milliseconds; a `?wait=N` submit waits up to 60 s, an event stream longer.
const HTTP_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

/** `aitasks_http_requests_total` and `aitasks_http_request_duration_seconds`, by method, route template and status. */
export function createHttpMetrics(registry: Registry) {
  const labelNames = ["method", "route", "status"] as const;
  const requests = new Counter({
    name: "aitasks_http_requests_total",
    help: "HTTP requests answered, by method, route template and status",
    labelNames,
    registers: [registry],
  });
  const duration = new Histogram({
    name: "aitasks_http_request_duration_seconds",
    help: "Time from a request's arrival to its answer's end, by method, route template and status",
    labelNames,
    buckets: HTTP_BUCKETS,
    registers: [registry],
  });
  return {
    /** One answered request; `route` is the matched route's template (undefined when none matched). */
    observe(method: string, route: string | undefined, status: number, seconds: number) {
      const labels = { method: methodLabel(method), route: routeLabel(route), status: String(status) };
      requests.inc(labels);
      duration.observe(labels, seconds);
    },
  };
}
export type HttpMetrics = ReturnType<typeof createHttpMetrics>;
