import { TaskView } from "@aitasks/contract";
import { getTask, TaskIdParams, toTaskView } from "@aitasks/tasks";
import type { FastifyInstance } from "fastify";
import type { AppDeps } from "../../deps.js";
import { parseInput } from "../../http/parse-input.js";
import { contract } from "../../http/route-contract.js";

export function getTaskRoute(app: FastifyInstance, deps: Pick<AppDeps, "db" | "readTask">) {
  app.get(
    "/task/:id",
    contract({
      id: "getTask",
      tag: "Tasks",
      summary: "A task, its status and its output",
      params: TaskIdParams,
      responses: { 200: TaskView, 404: "no such task (or another user's)" },
    }),
    async (request) => {
      const { id } = parseInput(TaskIdParams, request.params);
      return toTaskView(await getTask({ db: deps.db, readTask: deps.readTask, principal: request.principal }, id));
    },
  );
}
