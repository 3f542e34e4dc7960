import type { Database } from "@aitasks/db";
import { createDatabase } from "@aitasks/db";
import { createProviders } from "@aitasks/providers";
import {
  closeQueues,
  createQueues,
  createSubscriberConnection,
  createTaskFinishedAnnouncer,
  createWorkerConnection,
  type Queues,
  taskCanceledChannel,
  taskFinishedChannel,
} from "@aitasks/queue";
import type { RunTaskDeps } from "@aitasks/tasks";
import type { Logger } from "pino";
import type { WorkerConfig } from "./config.js";
import { createRunningCalls, type RunningCalls } from "./running-calls.js";

/** What the job handlers need. */
export interface WorkerDeps {
  config: Pick<WorkerConfig, "TASK_MAX_ATTEMPTS" | "RECONCILE_AFTER_MS">;
  db: Database;
  /** What running a task needs besides the database: the providers, prices, limits, the announcer. */
  taskRunner: Omit<RunTaskDeps, "db">;
  queues: Queues;
  logger: Logger;
  /** The provider calls in flight here, which a cancel aborts. */
  runningCalls: RunningCalls;
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
  const connection = createWorkerConnection(config.REDIS_URL);
  connection.on("error", (error) => logger.warn({ err: error.message }, "redis connection error"));
  const publisher = createWorkerConnection(config.REDIS_URL).on("error", () => {});
  const queues = createQueues(connection, config.QUEUE_PREFIX, (error) => logger.warn({ err: error }, "queue error"));
  const runningCalls = createRunningCalls(
    createSubscriberConnection(config.REDIS_URL).on("error", () => {}),
    taskCanceledChannel(config.QUEUE_PREFIX),
  );
  const deps: WorkerDeps = {
    config,
    logger,
    queues,
    runningCalls,
    db: database.db,
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
      // Wakes API requests waiting on finished tasks; a lost message only delays them to their deadline.
      onFinished: createTaskFinishedAnnouncer(publisher, taskFinishedChannel(config.QUEUE_PREFIX)),
    },
  };
  const workerOptions = {
    connection,
    prefix: config.QUEUE_PREFIX,
    concurrency: config.WORKER_CONCURRENCY,
    lockDurationMs: config.WORKER_LOCK_DURATION_MS,
    reconcileEveryMs: Math.min(60_000, config.RECONCILE_AFTER_MS),
    rollupEveryMs: config.REPORT_ROLLUP_INTERVAL_MS,
  };
  return {
    deps,
    database,
    workerOptions,
    async close() {
      await closeQueues(queues);
      runningCalls.close();
      connection.disconnect();
      publisher.disconnect();
      await database.close();
    },
  };
}
