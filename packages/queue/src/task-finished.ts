import type { Redis } from "ioredis";

/** Pub/sub channel on which workers announce that tasks reached a final state. */
export const taskFinishedChannel = (prefix: string) => `${prefix}:task-finished`;

/** The ids of one announcement: one message carries every task finished in the same event-loop turn. */
export const parseFinishedTaskIds = (message: string) => message.split(",").map(Number);

/**
 * Announces finished tasks on the channel, batched: ids finished in the same event-loop turn go
 * out as one PUBLISH. A worker at 1,000 tasks/s otherwise pays a Redis command (and a socket
 * write) per task for an announcement that usually has no listener. The promise settles once the
 * batch is sent; a failed send is dropped, since waiters fall back to their deadline.
 */
export function createTaskFinishedAnnouncer(publisher: Pick<Redis, "publish">, channel: string) {
  let batch: number[] = [];
  let sent: Promise<void> | undefined;
  return (taskId: number): Promise<void> => {
    batch.push(taskId);
    sent ??= new Promise<void>((resolve) => {
      setImmediate(() => {
        const ids = batch;
        batch = [];
        sent = undefined;
        publisher.publish(channel, ids.join(",")).then(
          () => resolve(),
          () => resolve(),
        );
      });
    });
    return sent;
  };
}
