import { Stats } from "@aitasks/contract";
import { getStats } from "@aitasks/reports";
import type { FastifyInstance } from "fastify";
import type { AppDeps } from "../../deps.js";
import { contract } from "../../http/route-contract.js";
import { toStatsView } from "../../views/reports.js";

export function getStatsRoute(app: FastifyInstance, deps: Pick<AppDeps, "db">) {
  app.get(
    "/stats",
    contract({
      id: "getStats",
      tag: "Reports",
      summary: "Totals of tasks, users and money",
      responses: { 200: Stats, 403: "a user key: stats need an admin key" },
    }),
    async (request) => toStatsView(await getStats({ db: deps.db, principal: request.principal })),
  );
}
