import { parseFinishedTaskIds } from "@aitasks/queue";
import type { TaskFinishedSignal } from "@aitasks/tasks";
import type { Redis } from "ioredis";

/**
 * Listens on the channel where workers announce finished tasks, and wakes the requests waiting
 * on them (`POST /api/task?wait=N`). One subscription per API process, whatever the number of
 * waiters. A lost announcement (Redis blip) costs only latency: the waiter ends at its deadline
 * and answers from the database.
 */
export function createTaskFinishedListener(subscriber: Redis, channel: string) {
  const waiters = new Map<number, Set<() => void>>();

  subscriber.on("message", (_channel: string, message: string) => {
    for (const taskId of parseFinishedTaskIds(message)) {
      const callbacks = waiters.get(taskId);
      if (callbacks) for (const wake of [...callbacks]) wake();
    }
  });
  const subscribed = subscriber.subscribe(channel).catch(() => {
    // ioredis subscribes again once connected; until then waiters end at their deadline.
  });

  const signal: TaskFinishedSignal = {
    wait(taskId, timeoutMs) {
      let resolve!: () => void;
      const finished = new Promise<void>((done) => {
        resolve = done;
      });
      const callbacks = waiters.get(taskId) ?? new Set();
      waiters.set(taskId, callbacks);
      const end = () => {
        clearTimeout(timer);
        callbacks.delete(end);
        if (callbacks.size === 0 && waiters.get(taskId) === callbacks) waiters.delete(taskId);
        resolve();
      };
      const timer = setTimeout(end, timeoutMs);
      callbacks.add(end);
      return { finished, cancel: end };
    },
  };

  return {
    signal,
    ready: subscribed,
    /** Ends every wait now, so a closing server does not hold requests for their full timeout. */
    releaseAll() {
      for (const callbacks of waiters.values()) for (const wake of [...callbacks]) wake();
    },
    async close() {
      this.releaseAll();
      subscriber.disconnect();
    },
  };
}
