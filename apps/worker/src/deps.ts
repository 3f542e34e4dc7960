import { type DeliverCallbackDeps, resolveWithSystem } from "@aitasks/callbacks";
import type { Database } from "@aitasks/db";
import { createDatabase } from "@aitasks/db";
import { createProviders } from "@aitasks/providers";
import {
  closeQueues,
  createQueues,
  createSubscriberConnection,
  createWorkerConnection,
  deliverCallbackJobOptions,
  enqueue,
  type Queues,
} from "@aitasks/queue";
import {
  createTaskOutputWriter,
  createTaskStatusAnnouncer,
  taskCanceledChannel,
  taskStatusChannel,
} from "@aitasks/task-events";
import type { RunTaskDeps } from "@aitasks/tasks";
import type { Logger } from "pino";
import type { WorkerConfig } from "./config.js";
import { createRunningCalls, type RunningCalls } from "./running-calls.js";
import { createWorkerMetrics } from "./worker-metrics.js";

/** What the job handlers need. */
export interface WorkerDeps {
  config: Pick<
    WorkerConfig,
    "TASK_MAX_ATTEMPTS" | "RECONCILE_AFTER_MS" | "CALLBACK_MAX_ATTEMPTS" | "CALLBACK_RETRY_BASE_MS"
  >;
  db: Database;
  /** What running a task needs besides the database: the providers, prices, limits, the announcer. */
  taskRunner: Omit<RunTaskDeps, "db">;
  queues: Queues;
  logger: Logger;
  /** The provider calls in flight here, which a cancel aborts. */
  runningCalls: RunningCalls;
  /** What delivering a callback needs besides the database: the secret, the limits, the network policy. */
  callbacks: Omit<DeliverCallbackDeps, "db">;
  /** Queues a finished task's callback; a lost one is queued again by the reconciler. */
  enqueueCallback: (taskId: number) => Promise<void>;
}

/**
 * Builds the worker's dependencies from its configuration, once: `main.ts` and the tests' worker
 * use this same wiring. `close` releases them (after the workers have stopped).
 */
export function createWorkerDeps(config: WorkerConfig, logger: Logger) {
  // Each job holds a connection only for its two short statements, so a small pool serves many jobs.
  const database = createDatabase(config.DATABASE_URL, {
    max: Math.min(20, Math.max(4, Math.ceil(config.WORKER_CONCURRENCY / 10))),
  });
  const connection = createWorkerConnection(config.redis);
  connection.on("error", (error) => logger.warn({ err: error.message }, "redis connection error"));
  const publisher = createWorkerConnection(config.redis).on("error", () => {});
  const queues = createQueues(connection, config.QUEUE_PREFIX, (error) => logger.warn({ err: error }, "queue error"));
  const runningCalls = createRunningCalls(
    createSubscriberConnection(config.redis).on("error", () => {}),
    taskCanceledChannel(config.QUEUE_PREFIX),
  );
  const announceStatus = createTaskStatusAnnouncer(publisher, taskStatusChannel(config.QUEUE_PREFIX));
  const metrics = createWorkerMetrics(config);
  const enqueueCallback = (taskId: number) =>
    enqueue(
      queues,
      "deliver-callback",
      { taskId },
      deliverCallbackJobOptions(config.CALLBACK_MAX_ATTEMPTS, config.CALLBACK_RETRY_BASE_MS),
    );
  const deps: WorkerDeps = {
    config,
    logger,
    queues,
    runningCalls,
    db: database.db,
    callbacks: {
      signingSecret: config.CALLBACK_SIGNING_SECRET,
      maxAttempts: config.CALLBACK_MAX_ATTEMPTS,
      retryBaseMs: config.CALLBACK_RETRY_BASE_MS,
      timeoutMs: config.CALLBACK_TIMEOUT_MS,
      policy: { allowPrivateNetworks: config.CALLBACK_ALLOW_PRIVATE_NETWORKS, resolveHost: resolveWithSystem },
    },
    enqueueCallback,
    taskRunner: {
      pricing: config.pricing,
      providers: createProviders({
        openai: { apiKey: config.OPENAI_API_KEY, baseURL: config.OPENAI_BASE_URL },
        mistral: { apiKey: config.MISTRAL_API_KEY, serverURL: config.MISTRAL_BASE_URL },
        timeoutMs: config.PROVIDER_TIMEOUT_MS,
      }),
      // Room for two runs lost to crashed workers beyond the provider attempts.
      maxRuns: config.TASK_MAX_ATTEMPTS + 2,
      // A task's lease lives as long as its job's lock: a stalled job is retaken when both have expired.
      leaseMs: config.WORKER_LOCK_DURATION_MS,
      // Event streams show it; a lost message is made up at their next heartbeat.
      onStarted: (taskId) => announceStatus(taskId, "processing"),
      output: createTaskOutputWriter(publisher, config.QUEUE_PREFIX),
      // Queues the task's callback (a lost enqueue is the reconciler's), and wakes API requests
      // waiting on finished tasks (a lost message only delays them to their deadline).
      onFinished: (taskId, finished) => {
        if (finished.callbackUrl) {
          enqueueCallback(taskId).catch((error) =>
            logger.warn({ err: error, task_id: taskId }, "callback not queued; the reconciler will queue it"),
          );
        }
        return announceStatus(taskId, finished.status);
      },
      observer: metrics.tasks,
    },
  };
  const workerOptions = {
    connection,
    prefix: config.QUEUE_PREFIX,
    concurrency: config.WORKER_CONCURRENCY,
    lockDurationMs: config.WORKER_LOCK_DURATION_MS,
    reconcileEveryMs: Math.min(60_000, config.RECONCILE_AFTER_MS),
    rollupEveryMs: config.REPORT_ROLLUP_INTERVAL_MS,
    renewSchedulesEveryMs: 60_000,
    replaceStuckAfterMs: 30_000,
  };
  return {
    deps,
    database,
    workerOptions,
    metrics,
    healthChecks: { database: () => database.sql`select 1`, redis: () => connection.ping() },
    /** The command connection: the start-up checks of the Redis server run on it. */
    redis: connection,
    async close() {
      await closeQueues(queues);
      runningCalls.close();
      connection.disconnect();
      publisher.disconnect();
      await database.close();
    },
  };
}
