import { CompletedTask, ErrorAnswer, InsufficientCreditError, SubmittedTask, WaitedTaskError } from "@aitasks/contract";
import { CreateTaskBody, SubmitQuery, submitTask, toCompletedAnswer, toSubmitted, waitForTask } from "@aitasks/tasks";
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import type { AppDeps } from "../../deps.js";
import { parseInput } from "../../http/parse-input.js";
import { preferredWait } from "../../http/prefer.js";
import { contract } from "../../http/route-contract.js";
import { bindTaskToLog } from "../../plugins/task-log.js";

/** The longest a request may wait for its task (`?wait`, `Prefer: wait`), as SubmitQuery allows. */
const MAX_WAIT_S = 60;

export function submitTaskRoute(
  app: FastifyInstance,
  deps: Pick<
    AppDeps,
    | "db"
    | "pricing"
    | "defaultModels"
    | "billing"
    | "enqueueTask"
    | "insertTaskWithoutUser"
    | "readTask"
    | "limits"
    | "taskFinished"
    | "checkCallbackUrl"
  >,
) {
  const { db, pricing, defaultModels, billing, enqueueTask, insertTaskWithoutUser, readTask, limits } = deps;
  const { taskFinished, checkCallbackUrl } = deps;
  app.post(
    "/task",
    contract({
      id: "submitTask",
      tag: "Tasks",
      summary: "Submit a task",
      description:
        "Accepted at once (202), or, with `?wait=N` or `Prefer: wait=N`, answered when the task ends within N seconds.",
      query: SubmitQuery,
      body: CreateTaskBody,
      headers: ["Idempotency-Key", "Prefer"],
      responses: {
        200: {
          description: "the task completed within the wait",
          schema: CompletedTask,
          headers: ["Location", "Preference-Applied", "Idempotent-Replayed"],
        },
        202: {
          description: "accepted: poll its Location, or follow its events",
          schema: SubmittedTask,
          headers: ["Location", "Retry-After", "Preference-Applied", "Idempotent-Replayed"],
        },
        402: { description: "prepaid billing: not enough credit for the hold", schema: InsufficientCreditError },
        409: {
          description: "the task was canceled during the wait, or a request with this Idempotency-Key is still running",
          schema: z.union([WaitedTaskError, ErrorAnswer]),
        },
        422: "this Idempotency-Key was used with another body",
        429: {
          description: "the rate limit, or the user's pending tasks (MAX_PENDING_TASKS_PER_USER), is reached",
          headers: ["Retry-After"],
        },
        502: { description: "the task failed during the wait", schema: WaitedTaskError },
      },
    }),
    async (request, reply) => {
      const body = parseInput(CreateTaskBody, request.body);
      // `?wait=N` (the original API) wins over `Prefer: wait=N` (RFC 7240), which is answered with
      // the wait applied.
      const query = parseInput(SubmitQuery, request.query);
      const preferred = query.wait === undefined ? preferredWait(request.headers.prefer, MAX_WAIT_S) : undefined;
      if (preferred !== undefined) reply.header("preference-applied", `wait=${preferred}`);
      const wait = query.wait ?? preferred;
      const { principal } = request;
      const submitted = await submitTask(
        // Listed, not `{ ...deps, principal }`: on Node 20 a spread followed by more properties takes
        // V8's slow path, which for all of AppDeps was a measurable share of a submission's CPU
        // (docs/performance.md; Node 24 is fast either way).
        {
          db,
          pricing,
          defaultModels,
          billing,
          enqueueTask,
          insertTaskWithoutUser,
          limits,
          checkCallbackUrl,
          principal,
          onEnqueueFailed: (taskId, error) =>
            request.log.warn(
              { err: error, task_id: taskId },
              "task stored but not queued; the reconciler will queue it",
            ),
        },
        body,
      );
      bindTaskToLog(request, submitted.id);
      reply.header("location", `/api/task/${submitted.id}`);
      // A 202 says when polling is worth it: a task takes a second or more.
      if (!wait) return reply.code(202).header("retry-after", "1").send(toSubmitted(submitted));

      let task: Awaited<ReturnType<typeof waitForTask>>;
      try {
        task = await waitForTask({ db, readTask, taskFinished, principal }, submitted.id, wait * 1000);
      } catch (error) {
        // The task is stored and queued: the answer must say so. A 5xx here would be retried by
        // the client, and would free its Idempotency-Key for that retry, making a second task.
        request.log.warn({ err: error, task_id: submitted.id }, "waiting for the task failed; answered 202");
        return reply.code(202).header("retry-after", "1").send(toSubmitted(submitted));
      }
      if (task.status === "completed") return reply.code(200).send(toCompletedAnswer(task));
      if (task.status === "failed") {
        return reply.code(502).send({
          error: task.error ?? "the task failed",
          code: "UPSTREAM",
          task_id: task.id,
          status: task.status,
          request_id: request.id,
        });
      }
      if (task.status === "canceled") {
        return reply.code(409).send({
          error: "the task was canceled",
          code: "CONFLICT",
          task_id: task.id,
          status: task.status,
          request_id: request.id,
        });
      }
      return reply.code(202).header("retry-after", "1").send(toSubmitted(task));
    },
  );
}
