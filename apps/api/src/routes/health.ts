import { Health } from "@aitasks/contract";
import { checkHealth, type HealthCheck } from "@aitasks/metrics";
import type { FastifyInstance } from "fastify";
import { contract } from "../http/route-contract.js";

export function healthRoute(app: FastifyInstance, checks: { database: HealthCheck; redis: HealthCheck }) {
  app.get(
    "/health",
    contract({
      id: "getHealth",
      tag: "Service",
      summary: "Whether Postgres and Redis answer",
      access: "public",
      responses: { 200: Health, 503: { description: "a check is down: which one", schema: Health } },
    }),
    async (_request, reply) => {
      const { status, body } = await checkHealth(checks);
      return reply.code(status).send(body);
    },
  );
}
