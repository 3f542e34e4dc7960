import { getStats } from "@aitasks/reports";
import type { FastifyInstance } from "fastify";
import type { AppDeps } from "../../app.js";
import { requireAdmin } from "../../plugins/authenticate.js";

export function getStatsRoute(app: FastifyInstance, deps: AppDeps) {
  app.get("/stats", async (request) => {
    requireAdmin(request);
    return getStats(deps.db);
  });
}
