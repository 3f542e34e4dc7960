import { withTimeout } from "./registry.js";

export type HealthCheck = () => Promise<unknown>;

/** A check slower than this counts as down: a health probe must answer while a dependency hangs. */
const CHECK_TIMEOUT_MS = 1500;

const probe = (check: HealthCheck, name: string): Promise<"ok" | "down"> =>
  withTimeout(check(), CHECK_TIMEOUT_MS, `the ${name} check`).then(
    () => "ok",
    () => "down",
  );

/**
 * `GET /health` of the API and of each worker: healthy (200) when Postgres and Redis both answer,
 * unhealthy (503) otherwise, with which one is down.
 */
export async function checkHealth(checks: { database: HealthCheck; redis: HealthCheck }) {
  const [database, redis] = await Promise.all([probe(checks.database, "database"), probe(checks.redis, "redis")]);
  const healthy = database === "ok" && redis === "ok";
  return {
    status: healthy ? 200 : 503,
    body: {
      status: healthy ? "healthy" : "unhealthy",
      timestamp: new Date().toISOString(),
      checks: { database, redis },
    },
  } as const;
}
