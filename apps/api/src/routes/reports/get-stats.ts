import { getStats } from "@aitasks/reports";
import type { FastifyInstance } from "fastify";
import type { AppDeps } from "../../deps.js";
import { toStatsView } from "../../views/reports.js";

export function getStatsRoute(app: FastifyInstance, deps: Pick<AppDeps, "db">) {
  app.get("/stats", async (request) => {
    return toStatsView(await getStats({ db: deps.db, principal: request.principal }));
  });
}
