import { listUserUsage } from "@aitasks/reports";
import type { FastifyInstance } from "fastify";
import { parseInput } from "../../http/parse-input.js";
import type { DashboardDeps } from "../dashboard-deps.js";
import { usersPage } from "../pages/users.js";
import { UsersQuery } from "../queries.js";
import { chromeOf, sendPage } from "../send-page.js";

/** The users page lists at most this many. */
const USERS_SHOWN = 200;

/** GET /dashboard/users: each user's usage in a month (this month unless `?month=`). */
export function usersRoute(app: FastifyInstance, deps: Pick<DashboardDeps, "readDb" | "dashboardSessions">) {
  app.get("/users", async (request, reply) => {
    const { month = new Date().toISOString().slice(0, 7) } = parseInput(UsersQuery, request.query);
    const usage = await listUserUsage(
      { db: deps.readDb, principal: request.principal },
      { type: "monthly", date: `${month}-01`, limit: USERS_SHOWN },
    );
    return sendPage(
      reply,
      200,
      usersPage({ month, limit: USERS_SHOWN, ...usage }, chromeOf(deps.dashboardSessions, request)),
    );
  });
}
