import type { RedisClient } from "@aitasks/queue";
import { parseOutputPiece, parseStatusAnnouncement } from "@aitasks/task-events";
import type { TaskChange, TaskChangeFeed, TaskFinishedSignal } from "@aitasks/tasks";
import { FINAL_STATUSES, type TaskStatus } from "@aitasks/tasks";

export interface TaskChannels {
  /** Workers announce status changes here (`42:completed,43:processing`). */
  status: string;
  /** APIs announce cancels here (a task id), for the workers and for each other's streams. */
  canceled: string;
  /** Workers announce streamed output here, piece by piece. */
  output: string;
}

/**
 * Listens on the channels where tasks' changes are announced, and passes them on to what waits in
 * this process: requests waiting on a task to finish (`POST /api/task?wait=N`), and event streams
 * (`GET /api/task/:id/events`). One subscription per API process, whatever the number of
 * listeners. A lost announcement (Redis blip) costs only latency: a waiter ends at its deadline
 * and a stream at its next heartbeat, and both read the database then.
 */
export function createTaskListener(subscriber: RedisClient, channels: TaskChannels) {
  const waiters = new Map<number, Set<() => void>>();
  const followers = new Map<number, Set<(change: TaskChange) => void>>();

  const statusChanged = (taskId: number, status: string) => {
    if (FINAL_STATUSES.has(status as TaskStatus)) {
      const callbacks = waiters.get(taskId);
      if (callbacks) for (const wake of [...callbacks]) wake();
    }
    const listeners = followers.get(taskId);
    if (listeners) for (const listener of [...listeners]) listener({ kind: "status" });
  };

  subscriber.on("message", (channel: string, message: string) => {
    if (channel === channels.status) {
      for (const { taskId, status } of parseStatusAnnouncement(message)) statusChanged(taskId, status);
    } else if (channel === channels.canceled) {
      statusChanged(Number(message), "canceled");
    } else if (channel === channels.output) {
      const piece = parseOutputPiece(message);
      const listeners = piece && followers.get(piece.taskId);
      if (listeners) {
        const change: TaskChange = { kind: "output", run: piece.run, end: piece.end, text: piece.text };
        for (const listener of [...listeners]) listener(change);
      }
    }
  });
  const subscribed = subscriber.subscribe(channels.status, channels.canceled, channels.output).catch(() => {
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

  const changes: TaskChangeFeed = {
    subscribe(taskId, onChange) {
      const listeners = followers.get(taskId) ?? new Set();
      followers.set(taskId, listeners);
      listeners.add(onChange);
      return () => {
        listeners.delete(onChange);
        if (listeners.size === 0 && followers.get(taskId) === listeners) followers.delete(taskId);
      };
    },
  };

  return {
    signal,
    changes,
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
