import { listCallbackAttempts } from "@aitasks/callbacks";
import { TaskIdParams } from "@aitasks/tasks";
import type { FastifyInstance } from "fastify";
import type { AppDeps } from "../../deps.js";
import { parseInput } from "../../http/parse-input.js";
import { toCallbacksView } from "../../views/callbacks.js";

/** GET /api/task/:id/callbacks: the task's callback delivery and its attempts, for whoever may read the task. */
export function listCallbacksRoute(app: FastifyInstance, deps: Pick<AppDeps, "db">) {
  app.get("/task/:id/callbacks", async (request) => {
    const { id } = parseInput(TaskIdParams, request.params);
    return toCallbacksView(await listCallbackAttempts({ db: deps.db, principal: request.principal }, id));
  });
}
