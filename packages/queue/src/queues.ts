import { type ConnectionOptions, Queue } from "bullmq";
import { QUEUE_NAMES, type QueueName } from "./job-catalog.js";

export type Queues = Record<QueueName, Queue>;

export function createQueues(connection: ConnectionOptions, prefix: string, onError: (error: Error) => void): Queues {
  const queues = Object.fromEntries(
    QUEUE_NAMES.map((name) => {
      const queue = new Queue(name, { connection, prefix });
      queue.on("error", onError);
      return [name, queue];
    }),
  ) as Queues;
  return queues;
}

export async function closeQueues(queues: Queues): Promise<void> {
  await Promise.all(Object.values(queues).map((queue) => queue.close()));
}
