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

/** The job states counted (BullMQ 6 has no `paused` state any more). */
export const QUEUE_JOB_STATES = [
  "waiting",
  "prioritized",
  "active",
  "delayed",
  "waiting-children",
  "completed",
  "failed",
] as const;
export type QueueJobState = (typeof QUEUE_JOB_STATES)[number];
export type QueueJobCounts = { queue: QueueName; counts: Partial<Record<QueueJobState, number>> }[];

/** What each queue holds now, by state: the metrics' gauge and the dashboard's "queue now". */
export function countQueueJobs(queues: Queues): Promise<QueueJobCounts> {
  return Promise.all(
    QUEUE_NAMES.map(async (queue) => ({ queue, counts: await queues[queue].getJobCounts(...QUEUE_JOB_STATES) })),
  );
}
