import { ErrorAnswer, InsufficientCreditError, SubmittedBatch } from "@aitasks/contract";
import { CreateBatchBody, submitBatch, toSubmitted } from "@aitasks/tasks";
import type { FastifyInstance } from "fastify";
import type { AppDeps } from "../../deps.js";
import { parseInput } from "../../http/parse-input.js";
import { contract } from "../../http/route-contract.js";

/** POST /api/tasks/batch: 1 to 1,000 tasks, stored all or none, queued in one call. */
export function submitBatchRoute(
  app: FastifyInstance,
  deps: Pick<AppDeps, "db" | "pricing" | "defaultModels" | "billing" | "enqueueTasks" | "limits" | "checkCallbackUrl">,
) {
  const { db, pricing, defaultModels, billing, enqueueTasks, limits, checkCallbackUrl } = deps;
  app.post(
    "/tasks/batch",
    contract({
      id: "submitBatch",
      tag: "Tasks",
      summary: "Submit 1 to 1,000 tasks, all or none",
      body: CreateBatchBody,
      headers: ["Idempotency-Key"],
      responses: {
        202: {
          description: "every task accepted",
          schema: SubmittedBatch,
          headers: ["Retry-After", "Idempotent-Replayed"],
        },
        400: { description: "the input is not valid: the message names the item (tasks.<index>)", schema: ErrorAnswer },
        402: {
          description: "prepaid billing: not enough credit for the batch's holds",
          schema: InsufficientCreditError,
        },
        409: "a request with this Idempotency-Key is still running",
        422: "this Idempotency-Key was used with another body",
        429: {
          description: "the rate limit, or the user's pending tasks (MAX_PENDING_TASKS_PER_USER), is reached",
          headers: ["Retry-After"],
        },
      },
    }),
    async (request, reply) => {
      const { tasks } = parseInput(CreateBatchBody, request.body);
      const batch = await submitBatch(
        // Listed, not spread from AppDeps (see submitTaskRoute).
        {
          db,
          pricing,
          defaultModels,
          billing,
          enqueueTasks,
          limits,
          checkCallbackUrl,
          principal: request.principal,
          onEnqueueFailed: (taskIds, error) =>
            request.log.warn(
              { err: error, tasks: taskIds.length, task_ids: taskIds },
              "batch stored but not queued; the reconciler will queue it",
            ),
        },
        tasks,
      );
      return reply
        .code(202)
        .header("retry-after", "1")
        .send({ tasks: batch.tasks.map(toSubmitted) });
    },
  );
}
