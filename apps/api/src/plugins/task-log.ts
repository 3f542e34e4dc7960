import type { FastifyRequest, FastifyServerOptions } from "fastify";

// `/api/task/42`, `/api/v1/task/42/events`, ...: every route about one task has its id here.
const TASK_PATH = /^\/api(?:\/v1)?\/task\/(\d{1,15})(?:[/?#]|$)/;

/**
 * Fastify's request loggers, with `task_id` bound when the URL names a task, so that every line
 * of such a request (its "incoming request" line too) carries it, as every line of the worker's
 * job for that task does: one grep for `"task_id":42` follows the task.
 */
export const taskChildLogger: NonNullable<FastifyServerOptions["childLoggerFactory"]> = (
  logger,
  bindings,
  options,
  rawRequest,
) => {
  const taskId = TASK_PATH.exec(rawRequest.url ?? "")?.[1];
  return logger.child(taskId ? { ...bindings, task_id: Number(taskId) } : bindings, options);
};

/**
 * Binds a task created by this request to the request's remaining log lines ("request completed").
 * The request's logger is its own child (above), so the binding is added to it in place: a second
 * child per submission was a measurable share of its CPU (pino's `child` resets every level method).
 * Without a logger (`logger: false`) there is nothing to bind.
 */
export function bindTaskToLog(request: FastifyRequest, taskId: number) {
  const log = request.log as typeof request.log & { setBindings?: (bindings: Record<string, unknown>) => void };
  log.setBindings?.({ task_id: taskId });
}
