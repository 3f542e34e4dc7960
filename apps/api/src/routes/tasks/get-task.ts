import { getTask, TaskIdParams, toTaskView } from "@aitasks/tasks";
import type { FastifyInstance } from "fastify";
import type { AppDeps } from "../../deps.js";
import { parseInput } from "../../http/parse-input.js";

export function getTaskRoute(app: FastifyInstance, deps: Pick<AppDeps, "db">) {
  app.get("/task/:id", async (request) => {
    const { id } = parseInput(TaskIdParams, request.params);
    return toTaskView(await getTask({ db: deps.db, principal: request.principal }, id));
  });
}
