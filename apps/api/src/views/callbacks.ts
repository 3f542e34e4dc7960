import type { TaskCallbacks } from "@aitasks/callbacks";
import type { TaskCallbacks as TaskCallbacksView } from "@aitasks/contract";

/**
 * GET /api/task/:id/callbacks: the task's callback, its state and every attempt, oldest first.
 * An attempt still in progress has `status_code`, `error` and `duration_ms` all null.
 */
export function toCallbacksView({ task, state, delivery, attempts }: TaskCallbacks): TaskCallbacksView {
  return {
    task_id: task.id,
    callback_url: task.callbackUrl,
    state,
    webhook_id: delivery?.messageId ?? null,
    next_attempt_at: state === "pending" && delivery ? delivery.nextAttemptAt.toISOString() : null,
    attempts: attempts.map((attempt) => ({
      attempt: attempt.attempt,
      attempted_at: attempt.attemptedAt.toISOString(),
      status_code: attempt.statusCode,
      error: attempt.error,
      duration_ms: attempt.durationMs,
    })),
  };
}
