import { getReport, ReportParams, ReportQuery } from "@aitasks/reports";
import type { FastifyInstance } from "fastify";
import type { AppDeps } from "../../deps.js";
import { parseInput } from "../../http/parse-input.js";
import { toReportView } from "../../views/reports.js";

export function getReportRoute(app: FastifyInstance, deps: Pick<AppDeps, "db">) {
  app.get("/report/:report_type", async (request) => {
    const { report_type } = parseInput(ReportParams, request.params);
    const { date, group_by } = parseInput(ReportQuery, request.query);
    const report = await getReport({ db: deps.db, principal: request.principal }, report_type, date, group_by);
    return toReportView(report);
  });
}
