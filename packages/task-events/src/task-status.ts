import { batchPerTurn } from "@aitasks/batching";
import type { RedisClient } from "@aitasks/queue";

/**
 * Pub/sub channel on which workers announce that tasks changed status (`processing`, and the final
 * ones): it wakes the API's requests waiting on a task (`?wait`) and its event streams.
 */
export const taskStatusChannel = (prefix: string) => `${prefix}:task-status`;

export interface StatusChange {
  taskId: number;
  status: string;
}

/** The changes one announcement carries, `42:completed,43:processing`; malformed entries are skipped. */
export function parseStatusAnnouncement(message: string): StatusChange[] {
  return message.split(",").flatMap((entry) => {
    const [id, status] = entry.split(":");
    const taskId = Number(id);
    return Number.isSafeInteger(taskId) && taskId > 0 && status ? [{ taskId, status }] : [];
  });
}

/**
 * Announces status changes on the channel, the changes of one event-loop turn as one PUBLISH
 * (`batchPerTurn`): a worker at 1,000 tasks/s otherwise pays a Redis command per change for an
 * announcement that usually has no listener. The promise settles once the message is sent; a
 * failed send is dropped, since waiters and streams fall back to reading the database (at their
 * deadline, at their next heartbeat).
 */
export function createTaskStatusAnnouncer(publisher: Pick<RedisClient, "publish">, channel: string) {
  const publish = (message: string) => publisher.publish(channel, message).then(ignore, ignore);
  const announce = batchPerTurn(publish, async (entries: string[]) => {
    await publish(entries.join(","));
    return entries.map(ignore);
  });
  return (taskId: number, status: string): Promise<void> => announce(`${taskId}:${status}`);
}

const ignore = () => {};
