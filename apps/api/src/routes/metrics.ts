import { UnauthorizedError } from "@aitasks/errors";
import type { FastifyInstance } from "fastify";
import type { AppDeps } from "../deps.js";
import { contract } from "../http/route-contract.js";
import type { FailedAuthenticationLimiter } from "../plugins/rate-limit.js";

/**
 * `GET /metrics` for Prometheus: the admin key or METRICS_TOKEN when either is configured (a
 * user's key is not enough: the figures are the whole service's), anyone in open mode. Wrong
 * tokens count as failed authentications, like wrong API keys.
 */
export function metricsRoute(
  app: FastifyInstance,
  deps: Pick<AppDeps, "metrics">,
  failures: FailedAuthenticationLimiter | undefined,
) {
  const { registry, access } = deps.metrics;
  app.get(
    "/metrics",
    contract({
      id: "getMetrics",
      tag: "Service",
      summary: "Prometheus metrics (text exposition format)",
      description:
        "With ADMIN_API_KEY or METRICS_TOKEN set, send one of them as `Authorization: Bearer <token>`; open otherwise. See docs/operations.md#metrics.",
      responses: {
        200: { description: "the metrics", content: { "text/plain": undefined } },
        401: "no admin key or metrics token, or a wrong one",
      },
    }),
    async (request, reply) => {
      if (!access.allows(request.headers)) {
        await failures?.recordFailure(request.ip, reply);
        reply.header("www-authenticate", 'Bearer realm="metrics"');
        throw new UnauthorizedError("an admin key or METRICS_TOKEN is required: send Authorization: Bearer <token>");
      }
      const text = await registry.metrics();
      return reply.type(registry.contentType).header("cache-control", "no-store").send(text);
    },
  );
}
