import { TaskFinishedError, TaskView } from "@aitasks/contract";
import { cancelTask, TaskIdParams, toTaskView } from "@aitasks/tasks";
import type { FastifyInstance } from "fastify";
import type { AppDeps } from "../../deps.js";
import { parseInput } from "../../http/parse-input.js";
import { contract } from "../../http/route-contract.js";

/** POST /api/task/:id/cancel: the task, now `canceled`; 409 with its status if it had finished. */
export function cancelTaskRoute(
  app: FastifyInstance,
  deps: Pick<AppDeps, "db" | "announceCanceled" | "enqueueCallback">,
) {
  app.post(
    "/task/:id/cancel",
    contract({
      id: "cancelTask",
      tag: "Tasks",
      summary: "Cancel a task",
      description:
        "A pending task is canceled at once, a processing one once its provider call is aborted. Canceled tasks are charged nothing.",
      params: TaskIdParams,
      responses: {
        200: TaskView,
        404: "no such task (or another user's)",
        409: { description: "the task had finished: its status", schema: TaskFinishedError },
      },
    }),
    async (request) => {
      const { id } = parseInput(TaskIdParams, request.params);
      const context = {
        db: deps.db,
        principal: request.principal,
        onCanceled: deps.announceCanceled,
        queueCallback: deps.enqueueCallback,
      };
      return toTaskView(await cancelTask(context, id));
    },
  );
}
