import type { FastifyReply, FastifyRequest, FastifyServerOptions } from "fastify";

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

/** Binds a task created by this request to the request's remaining log lines ("request completed"). */
export function bindTaskToLog(request: FastifyRequest, reply: FastifyReply, taskId: number) {
  const child = request.log.child({ task_id: taskId });
  request.log = child;
  reply.log = child;
}
