import { ListTasksQuery, listTasks, toTaskListItem } from "@aitasks/tasks";
import type { FastifyInstance } from "fastify";
import type { AppDeps } from "../../deps.js";
import { parseInput } from "../../http/parse-input.js";

export function listTasksRoute(app: FastifyInstance, deps: Pick<AppDeps, "db">) {
  app.get("/tasks", async (request) => {
    const query = parseInput(ListTasksQuery, request.query);
    const page = await listTasks({ db: deps.db, principal: request.principal }, query);
    return {
      tasks: page.tasks.map(toTaskListItem),
      next_cursor: page.nextCursor,
    };
  });
}
