import { cancelTask, getTask, listTasks, TaskFinishedError, TaskIdParams } from "@aitasks/tasks";
import type { FastifyInstance } from "fastify";
import { parseInput } from "../../http/parse-input.js";
import type { DashboardDeps } from "../dashboard-deps.js";
import { requireFormToken } from "../form-token.js";
import { taskPage, tasksPage } from "../pages/tasks.js";
import { OpenTaskQuery, TasksQuery } from "../queries.js";
import { chromeOf, sendPage } from "../send-page.js";

/**
 * GET /dashboard/tasks (filtered, paged), /dashboard/tasks/open?id= (the "open a task" box),
 * /dashboard/tasks/:id, and POST /dashboard/tasks/:id/cancel.
 */
export function taskRoutes(
  app: FastifyInstance,
  deps: Pick<DashboardDeps, "db" | "readDb" | "dashboardSessions" | "announceCanceled" | "enqueueCallback">,
) {
  const sessions = deps.dashboardSessions;
  app.get("/tasks", async (request, reply) => {
    const filter = parseInput(TasksQuery, request.query);
    const list = await listTasks({ db: deps.readDb, principal: request.principal }, { ...filter, limit: 50 });
    return sendPage(reply, 200, tasksPage({ ...list, filter }, chromeOf(sessions, request)));
  });
  app.get("/tasks/open", async (request, reply) => {
    const { id } = parseInput(OpenTaskQuery, request.query);
    return reply.redirect(`/dashboard/tasks/${id}`, 303);
  });
  app.get("/tasks/:id", async (request, reply) => {
    const { id } = parseInput(TaskIdParams, request.params);
    const task = await getTask({ db: deps.db, principal: request.principal }, id);
    const canceled = (request.query as { canceled?: string }).canceled === "1";
    return sendPage(
      reply,
      200,
      taskPage(task, chromeOf(sessions, request), canceled ? "The task was canceled." : undefined),
    );
  });
  app.post("/tasks/:id/cancel", async (request, reply) => {
    requireFormToken(sessions, request);
    const { id } = parseInput(TaskIdParams, request.params);
    const context = {
      db: deps.db,
      principal: request.principal,
      onCanceled: deps.announceCanceled,
      queueCallback: deps.enqueueCallback,
    };
    try {
      await cancelTask(context, id);
    } catch (error) {
      if (!(error instanceof TaskFinishedError)) throw error;
      const task = await getTask(context, id);
      return sendPage(
        reply,
        409,
        taskPage(task, chromeOf(sessions, request), `Not canceled: the task had already ended (${task.status}).`),
      );
    }
    return reply.redirect(`/dashboard/tasks/${id}?canceled=1`, 303);
  });
}
