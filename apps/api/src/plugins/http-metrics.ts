import type { HttpMetrics } from "@aitasks/metrics";
import type { FastifyInstance } from "fastify";

/**
 * Counts every answered request by method, route template (`/api/task/:id`, never the URL: 404s
 * are one `unmatched` route) and status, with its duration from arrival to the answer's end.
 */
export function useHttpMetrics(app: FastifyInstance, metrics: HttpMetrics) {
  app.addHook("onResponse", (request, reply, done) => {
    metrics.observe(request.method, request.routeOptions.url, reply.statusCode, reply.elapsedTime / 1000);
    done();
  });
}
