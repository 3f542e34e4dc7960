import { NotFoundError } from "@aitasks/errors";
import { getTask, TaskIdParams, toTaskView } from "@aitasks/tasks";
import type { FastifyInstance } from "fastify";
import type { AppDeps } from "../../deps.js";
import { parseInput } from "../../http/parse-input.js";

export function getTaskRoute(app: FastifyInstance, deps: Pick<AppDeps, "db">) {
  app.get("/task/:id", async (request) => {
    const { id } = parseInput(TaskIdParams, request.params);
    const task = await getTask(deps.db, id);
    // Another user's task is answered exactly like a missing one, so ids reveal nothing.
    if (request.principal.role === "user" && task.userId !== request.principal.userId) {
      throw new NotFoundError(`task ${id} not found`);
    }
    return toTaskView(task);
  });
}
