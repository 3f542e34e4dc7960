import { type ConnectionOptions, type JobsOptions, Queue } from "bullmq";
import { Redis, type RedisOptions } from "ioredis";
import { z } from "zod";

/**
 * The job catalog: every job this service runs, with its queue, payload schema and job id.
 * Producer and consumer both use it, so a payload cannot drift between them. Payloads carry ids only.
 * BullMQ forbids ':' in job ids and queue names, and all-digit custom ids, hence `task-42`.
 */
export const jobCatalog = {
  "run-task": {
    queue: "tasks",
    payload: z.object({ taskId: z.number().int().positive() }),
    jobId: ({ taskId }: { taskId: number }) => `task-${taskId}`,
  },
  "reconcile-tasks": {
    queue: "maintenance",
    payload: z.object({}),
    jobId: () => "reconcile-tasks",
  },
  "rollup-reports": {
    queue: "maintenance",
    payload: z.object({ full: z.boolean().optional() }),
    jobId: () => "rollup-reports",
  },
} as const;

export type JobName = keyof typeof jobCatalog;
export type JobPayload<N extends JobName> = z.infer<(typeof jobCatalog)[N]["payload"]>;
export type QueueName = (typeof jobCatalog)[JobName]["queue"];
export const QUEUE_NAMES = ["tasks", "maintenance"] as const satisfies readonly QueueName[];

/** Backoff type the worker implements: exponential, but never sooner than a provider's `Retry-After`. */
export const PROVIDER_BACKOFF = "provider";

export function runTaskJobOptions(maxAttempts: number): JobsOptions {
  return {
    attempts: maxAttempts,
    backoff: { type: PROVIDER_BACKOFF, delay: 1000 },
    // Finished jobs are not needed for deduplication: the task row's status guards a re-run.
    removeOnComplete: { count: 1000 },
    removeOnFail: { age: 7 * 24 * 3600 },
  };
}

/**
 * API side: fail fast when Redis is away, so a request answers instead of hanging. `commandTimeout`
 * covers a Redis that stops answering on an open connection (a network partition): without it a
 * command waits until TCP gives up, many minutes later, and so does the request that sent it.
 */
export function createProducerConnection(url: string, options: RedisOptions = {}): Redis {
  return new Redis(url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2000,
    commandTimeout: 2000,
    ...options,
  });
}

/**
 * A pub/sub subscriber (the API's "task finished" listener): it waits for Redis as long as it
 * takes, since a SUBSCRIBE that timed out would leave waiters deaf until the next reconnect.
 */
export function createSubscriberConnection(url: string): Redis {
  return createProducerConnection(url, {
    enableOfflineQueue: true,
    maxRetriesPerRequest: null,
    commandTimeout: undefined,
  });
}

/** Worker side: BullMQ's blocking commands require `maxRetriesPerRequest: null`. */
export function createWorkerConnection(url: string, options: RedisOptions = {}): Redis {
  return new Redis(url, { maxRetriesPerRequest: null, ...options });
}

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

/**
 * Adds a job from the catalog. The id comes from the entity, so adding twice is harmless.
 * A Redis that is down can make `add` hang forever (even without an offline queue), so it is
 * bounded by `timeoutMs`; the task row is the truth and the reconciler re-adds what was lost.
 */
export async function enqueue<N extends JobName>(
  queues: Queues,
  name: N,
  payload: JobPayload<N>,
  options: JobsOptions & { timeoutMs?: number } = {},
): Promise<void> {
  const entry = jobCatalog[name];
  const { timeoutMs = 2000, ...jobOptions } = options;
  const data = entry.payload.parse(payload);
  const add = queues[entry.queue].add(name, data, { ...jobOptions, jobId: entry.jobId(data as never) });
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`enqueue of ${name} timed out after ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    await Promise.race([add, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

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
