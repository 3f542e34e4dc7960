import { TaskList } from "@aitasks/contract";
import { ListTasksQuery, listTasks, toTaskListItem } from "@aitasks/tasks";
import type { FastifyInstance } from "fastify";
import type { AppDeps } from "../../deps.js";
import { parseInput } from "../../http/parse-input.js";
import { contract } from "../../http/route-contract.js";

export function listTasksRoute(app: FastifyInstance, deps: Pick<AppDeps, "db">) {
  app.get(
    "/tasks",
    contract({
      id: "listTasks",
      tag: "Tasks",
      summary: "Tasks, newest first, a page at a time",
      query: ListTasksQuery,
      responses: { 200: TaskList, 403: "a user key asked for another user's tasks" },
    }),
    async (request) => {
      const query = parseInput(ListTasksQuery, request.query);
      const page = await listTasks({ db: deps.db, principal: request.principal }, query);
      return {
        tasks: page.tasks.map(toTaskListItem),
        next_cursor: page.nextCursor,
      };
    },
  );
}
