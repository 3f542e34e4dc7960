import { cancelTask, TaskIdParams, toTaskView } from "@aitasks/tasks";
import type { FastifyInstance } from "fastify";
import type { AppDeps } from "../../deps.js";
import { parseInput } from "../../http/parse-input.js";

/** POST /api/task/:id/cancel: the task, now `canceled`; 409 with its status if it had finished. */
export function cancelTaskRoute(
  app: FastifyInstance,
  deps: Pick<AppDeps, "db" | "announceCanceled" | "enqueueCallback">,
) {
  app.post("/task/:id/cancel", async (request) => {
    const { id } = parseInput(TaskIdParams, request.params);
    const context = {
      db: deps.db,
      principal: request.principal,
      onCanceled: deps.announceCanceled,
      queueCallback: deps.enqueueCallback,
    };
    return toTaskView(await cancelTask(context, id));
  });
}
