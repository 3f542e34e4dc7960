import { withTimeout } from "@aitasks/metrics";
import { countQueueJobs } from "@aitasks/queue";
import { getDailySeries, getReport } from "@aitasks/reports";
import type { FastifyInstance } from "fastify";
import { parseInput } from "../../http/parse-input.js";
import type { DashboardDeps } from "../dashboard-deps.js";
import { overviewPage } from "../pages/overview.js";
import { OverviewQuery } from "../queries.js";
import { chromeOf, sendPage } from "../send-page.js";

/** The overview's charts cover this many days. */
const CHART_DAYS = 30;
/** The queues' depth is left out of the overview rather than hold it longer than this. */
const QUEUE_COUNT_TIMEOUT_MS = 2000;

/** GET /dashboard: a day's, week's and month's reports, the last days' charts and the queues' depth. */
export function overviewRoute(
  app: FastifyInstance,
  deps: Pick<DashboardDeps, "readDb" | "queues" | "dashboardSessions">,
) {
  app.get("/", async (request, reply) => {
    const { date = new Date().toISOString().slice(0, 10) } = parseInput(OverviewQuery, request.query);
    const context = { db: deps.readDb, principal: request.principal };
    const [daily, weekly, monthly, series, queues] = await Promise.all([
      getReport(context, "daily", date),
      getReport(context, "weekly", date),
      getReport(context, "monthly", date),
      getDailySeries(context, { until: date, days: CHART_DAYS }),
      withTimeout(countQueueJobs(deps.queues), QUEUE_COUNT_TIMEOUT_MS, "counting the queues' jobs").catch(
        () => undefined,
      ),
    ]);
    return sendPage(
      reply,
      200,
      overviewPage(
        { date, reports: { daily, weekly, monthly }, series, queues },
        chromeOf(deps.dashboardSessions, request),
      ),
    );
  });
}
