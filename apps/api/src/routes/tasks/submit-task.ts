import { CreateTaskBody, SubmitQuery, submitTask, toCompletedAnswer, toSubmitted, waitForTask } from "@aitasks/tasks";
import type { FastifyInstance } from "fastify";
import type { AppDeps } from "../../deps.js";
import { parseInput } from "../../http/parse-input.js";
import { preferredWait } from "../../http/prefer.js";

/** The longest a request may wait for its task (`?wait`, `Prefer: wait`), as SubmitQuery allows. */
const MAX_WAIT_S = 60;

export function submitTaskRoute(
  app: FastifyInstance,
  deps: Pick<
    AppDeps,
    "db" | "pricing" | "defaultModels" | "billing" | "enqueueTask" | "limits" | "taskFinished" | "checkCallbackUrl"
  >,
) {
  app.post("/task", async (request, reply) => {
    const body = parseInput(CreateTaskBody, request.body);
    // `?wait=N` (the original API) wins over `Prefer: wait=N` (RFC 7240), which is answered with
    // the wait applied.
    const query = parseInput(SubmitQuery, request.query);
    const preferred = query.wait === undefined ? preferredWait(request.headers.prefer, MAX_WAIT_S) : undefined;
    if (preferred !== undefined) reply.header("preference-applied", `wait=${preferred}`);
    const wait = query.wait ?? preferred;
    const { principal } = request;
    const submitted = await submitTask(
      {
        ...deps,
        principal,
        onEnqueueFailed: (taskId, error) =>
          request.log.warn({ err: error, taskId }, "task stored but not queued; the reconciler will queue it"),
      },
      body,
    );
    reply.header("location", `/api/task/${submitted.id}`);
    // A 202 says when polling is worth it: a task takes a second or more.
    if (!wait) return reply.code(202).header("retry-after", "1").send(toSubmitted(submitted));

    const task = await waitForTask({ ...deps, principal }, submitted.id, wait * 1000);
    if (task.status === "completed") return reply.code(200).send(toCompletedAnswer(task));
    if (task.status === "failed") {
      return reply.code(502).send({ error: task.error ?? "the task failed", task_id: task.id, status: task.status });
    }
    if (task.status === "canceled") {
      return reply.code(409).send({ error: "the task was canceled", task_id: task.id, status: task.status });
    }
    return reply.code(202).header("retry-after", "1").send(toSubmitted(task));
  });
}
