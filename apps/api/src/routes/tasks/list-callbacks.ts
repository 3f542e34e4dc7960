import { listCallbackAttempts } from "@aitasks/callbacks";
import { TaskCallbacks } from "@aitasks/contract";
import { TaskIdParams } from "@aitasks/tasks";
import type { FastifyInstance } from "fastify";
import type { AppDeps } from "../../deps.js";
import { parseInput } from "../../http/parse-input.js";
import { contract } from "../../http/route-contract.js";
import { toCallbacksView } from "../../views/callbacks.js";

/** GET /api/task/:id/callbacks: the task's callback delivery and its attempts, for whoever may read the task. */
export function listCallbacksRoute(app: FastifyInstance, deps: Pick<AppDeps, "db">) {
  app.get(
    "/task/:id/callbacks",
    contract({
      id: "listTaskCallbacks",
      tag: "Tasks",
      summary: "A task's callback and its delivery attempts",
      params: TaskIdParams,
      responses: { 200: TaskCallbacks, 404: "no such task (or another user's)" },
    }),
    async (request) => {
      const { id } = parseInput(TaskIdParams, request.params);
      return toCallbacksView(await listCallbackAttempts({ db: deps.db, principal: request.principal }, id));
    },
  );
}
