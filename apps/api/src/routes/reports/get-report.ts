import { Report } from "@aitasks/contract";
import { getReport, ReportParams, ReportQuery } from "@aitasks/reports";
import type { FastifyInstance } from "fastify";
import type { AppDeps } from "../../deps.js";
import { parseInput } from "../../http/parse-input.js";
import { contract } from "../../http/route-contract.js";
import { toReportView } from "../../views/reports.js";

export function getReportRoute(app: FastifyInstance, deps: Pick<AppDeps, "db">) {
  app.get(
    "/report/:report_type",
    contract({
      id: "getReport",
      tag: "Reports",
      summary: "Income, expenses, profit and usage of a day, week or month",
      params: ReportParams,
      query: ReportQuery,
      responses: { 200: Report, 403: "a user key: reports need an admin key" },
    }),
    async (request) => {
      const { report_type } = parseInput(ReportParams, request.params);
      const { date, group_by } = parseInput(ReportQuery, request.query);
      const report = await getReport({ db: deps.db, principal: request.principal }, report_type, date, group_by);
      return toReportView(report);
    },
  );
}
