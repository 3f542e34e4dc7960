import type { RedisClient } from "@aitasks/queue";

/**
 * The provider calls this worker process is making, by task, so that a cancel can abort them: the
 * API publishes a canceled task's id on a channel every worker listens to, and the worker running
 * it (whichever machine it is on) aborts the call. A message for a task not running here is ignored.
 */
export function createRunningCalls(subscriber: RedisClient, channel: string) {
  const running = new Map<number, Set<AbortController>>();
  subscriber.on("message", (_channel: string, message: string) => {
    const taskId = Number(message);
    for (const controller of running.get(taskId) ?? []) controller.abort(new Error(`task ${taskId} was canceled`));
  });
  // ioredis subscribes again after a reconnect; a cancel sent meanwhile leaves the call to its end.
  const ready = subscriber.subscribe(channel).catch(() => {});

  return {
    ready,
    /** The signal of one run's call; `end` forgets it once the run is over. */
    start(taskId: number) {
      const controller = new AbortController();
      const calls = running.get(taskId) ?? new Set();
      running.set(taskId, calls);
      calls.add(controller);
      return {
        signal: controller.signal,
        end() {
          calls.delete(controller);
          if (calls.size === 0 && running.get(taskId) === calls) running.delete(taskId);
        },
      };
    },
    close() {
      subscriber.disconnect();
    },
  };
}
export type RunningCalls = ReturnType<typeof createRunningCalls>;
