import { ConfigError, loggerOptions } from "@aitasks/config";
import { createDatabase, migrateDatabase } from "@aitasks/db";
import { createProviders } from "@aitasks/providers";
import {
  closeQueues,
  createQueues,
  createTaskFinishedAnnouncer,
  createWorkerConnection,
  taskFinishedChannel,
} from "@aitasks/queue";
import { pino } from "pino";
import { loadWorkerConfig, type WorkerConfig } from "./config.js";
import { reconcileTasks } from "./handlers/reconcile-tasks.js";
import { startWorkers } from "./start-worker.js";

let config: WorkerConfig;
try {
  config = loadWorkerConfig();
} catch (error) {
  console.error(error instanceof ConfigError ? error.message : error);
  process.exit(1);
}

const logger = pino(loggerOptions(config.LOG_LEVEL));
await migrateDatabase(config.DATABASE_URL);

// Each job holds a connection only for its two short statements, so a small pool serves many jobs.
const database = createDatabase(config.DATABASE_URL, {
  max: Math.min(20, Math.max(4, Math.ceil(config.WORKER_CONCURRENCY / 10))),
});
const connection = createWorkerConnection(config.REDIS_URL);
connection.on("error", (error) => logger.warn({ err: error.message }, "redis connection error"));
const publisher = createWorkerConnection(config.REDIS_URL).on("error", () => {});
const queues = createQueues(connection, config.QUEUE_PREFIX, (error) => logger.warn({ err: error }, "queue error"));
// Wakes API requests waiting on finished tasks; a lost message only delays them to their deadline.
const announceFinished = createTaskFinishedAnnouncer(publisher, taskFinishedChannel(config.QUEUE_PREFIX));

const deps = {
  config,
  logger,
  queues,
  runTask: {
    db: database.db,
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
    onFinished: announceFinished,
  },
};

for (const [provider, key] of [
  ["openai", config.OPENAI_API_KEY],
  ["mistral", config.MISTRAL_API_KEY],
] as const) {
  if (!key) logger.warn(`${provider.toUpperCase()}_API_KEY is not set: ${provider} tasks will fail`);
}

const running = await startWorkers(deps, {
  connection,
  prefix: config.QUEUE_PREFIX,
  concurrency: config.WORKER_CONCURRENCY,
  lockDurationMs: config.WORKER_LOCK_DURATION_MS,
  reconcileEveryMs: Math.min(60_000, config.RECONCILE_AFTER_MS),
  rollupEveryMs: config.REPORT_ROLLUP_INTERVAL_MS,
});
logger.info({ concurrency: config.WORKER_CONCURRENCY, prefix: config.QUEUE_PREFIX }, "worker started");
// Once at start too: tasks stored while no worker ran are picked up now, not a minute later.
reconcileTasks(deps).catch((error) => logger.warn({ err: error }, "reconcile failed"));

let closing = false;
async function shutdown(signal: string) {
  if (closing) return;
  closing = true;
  logger.info({ signal }, "closing: no new jobs, waiting for running ones");
  const result = await running.close(config.SHUTDOWN_TIMEOUT_MS);
  if (result === "forced")
    logger.warn("shutdown timeout: unfinished jobs go back to the queue when their lock expires");
  await closeQueues(queues);
  connection.disconnect();
  publisher.disconnect();
  await database.close();
  logger.info("closed");
  process.exit(0);
}
process.once("SIGTERM", () => void shutdown("SIGTERM"));
process.once("SIGINT", () => void shutdown("SIGINT"));
