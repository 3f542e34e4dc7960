import { CreateTaskBody, SubmitQuery, submitTask, waitForTask } from "@aitasks/tasks";
import type { FastifyInstance } from "fastify";
import type { AppDeps } from "../../deps.js";
import { parseInput } from "../../http/parse-input.js";
import { toCompletedAnswer, toSubmitted } from "../../views/tasks.js";

export function submitTaskRoute(
  app: FastifyInstance,
  deps: Pick<AppDeps, "db" | "pricing" | "defaultModels" | "billing" | "enqueueTask" | "limits" | "taskFinished">,
) {
  app.post("/task", async (request, reply) => {
    const body = parseInput(CreateTaskBody, request.body);
    const { wait } = parseInput(SubmitQuery, request.query);
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
    if (!wait) return reply.code(202).send(toSubmitted(submitted));

    const task = await waitForTask({ ...deps, principal }, submitted.id, wait * 1000);
    if (task.status === "completed") return reply.code(200).send(toCompletedAnswer(task));
    if (task.status === "failed") {
      return reply.code(502).send({ error: task.error ?? "the task failed", task_id: task.id, status: task.status });
    }
    return reply.code(202).send(toSubmitted(task));
  });
}
