import { getStats } from "@aitasks/reports";
import type { FastifyInstance } from "fastify";
import type { AppDeps } from "../../app.js";

export function getStatsRoute(app: FastifyInstance, deps: AppDeps) {
  app.get("/stats", async () => getStats(deps.db));
}
