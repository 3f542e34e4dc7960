import { getStats } from "@aitasks/reports";
import type { FastifyInstance } from "fastify";
import type { AppDeps } from "../../deps.js";
import { requireAdmin } from "../../plugins/authenticate.js";

export function getStatsRoute(app: FastifyInstance, deps: Pick<AppDeps, "db">) {
  app.get("/stats", async (request) => {
    requireAdmin(request);
    return getStats(deps.db);
  });
}
