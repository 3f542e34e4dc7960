import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { checkHealth, type HealthCheck, type MetricsAccess, type Registry } from "@aitasks/metrics";

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", "cache-control": "no-store", ...headers });
  res.end(JSON.stringify(body));
}

/**
 * The worker's own HTTP server, for its supervisor and Prometheus: `GET /metrics` (with the API's
 * access rule: an admin key or METRICS_TOKEN when either is configured) and `GET /health`
 * (200 when Postgres and Redis answer, 503 otherwise: the worker can take no job without them).
 * It never listens by itself: main.ts does (WORKER_HTTP_PORT).
 */
export function createWorkerHttpServer(options: {
  registry: Registry;
  access: MetricsAccess;
  checks: { database: HealthCheck; redis: HealthCheck };
}) {
  async function answer(req: IncomingMessage, res: ServerResponse) {
    const path = (req.url ?? "/").split("?")[0];
    if (path !== "/metrics" && path !== "/health") {
      return sendJson(res, 404, { error: `no route ${path}`, code: "NOT_FOUND" });
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      return sendJson(res, 405, { error: "only GET is allowed", code: "VALIDATION" }, { allow: "GET, HEAD" });
    }
    if (path === "/health") {
      const { status, body } = await checkHealth(options.checks);
      return sendJson(res, status, body);
    }
    if (!options.access.allows(req.headers)) {
      const error = "an admin key or METRICS_TOKEN is required: send Authorization: Bearer <token>";
      return sendJson(res, 401, { error, code: "UNAUTHORIZED" }, { "www-authenticate": 'Bearer realm="metrics"' });
    }
    const text = await options.registry.metrics();
    res.writeHead(200, { "content-type": options.registry.contentType, "cache-control": "no-store" });
    res.end(text);
  }

  return createServer((req, res) => {
    answer(req, res).catch(() => {
      if (res.headersSent) res.destroy();
      else sendJson(res, 500, { error: "internal error", code: "INTERNAL" });
    });
  });
}
