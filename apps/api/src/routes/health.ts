import type { FastifyInstance } from "fastify";
import type { HealthCheck } from "../deps.js";

const CHECK_TIMEOUT_MS = 1500;

async function probe(check: HealthCheck): Promise<"ok" | "down"> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error("timed out")), CHECK_TIMEOUT_MS);
  });
  try {
    await Promise.race([check(), timeout]);
    return "ok";
  } catch {
    return "down";
  } finally {
    clearTimeout(timer);
  }
}

export function healthRoute(app: FastifyInstance, checks: { database: HealthCheck; redis: HealthCheck }) {
  app.get("/health", async (_request, reply) => {
    const [database, redis] = await Promise.all([probe(checks.database), probe(checks.redis)]);
    const healthy = database === "ok" && redis === "ok";
    return reply.code(healthy ? 200 : 503).send({
      status: healthy ? "healthy" : "unhealthy",
      timestamp: new Date().toISOString(),
      checks: { database, redis },
    });
  });
}
