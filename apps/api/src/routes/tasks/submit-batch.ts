import { CreateBatchBody, submitBatch, toSubmitted } from "@aitasks/tasks";
import type { FastifyInstance } from "fastify";
import type { AppDeps } from "../../deps.js";
import { parseInput } from "../../http/parse-input.js";

/** POST /api/tasks/batch: 1 to 1,000 tasks, stored all or none, queued in one call. */
export function submitBatchRoute(
  app: FastifyInstance,
  deps: Pick<AppDeps, "db" | "pricing" | "defaultModels" | "billing" | "enqueueTasks" | "limits" | "checkCallbackUrl">,
) {
  app.post("/tasks/batch", async (request, reply) => {
    const { tasks } = parseInput(CreateBatchBody, request.body);
    const batch = await submitBatch(
      {
        ...deps,
        principal: request.principal,
        onEnqueueFailed: (taskIds, error) =>
          request.log.warn(
            { err: error, tasks: taskIds.length },
            "batch stored but not queued; the reconciler will queue it",
          ),
      },
      tasks,
    );
    return reply
      .code(202)
      .header("retry-after", "1")
      .send({ tasks: batch.tasks.map(toSubmitted) });
  });
}
