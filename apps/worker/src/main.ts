import { ConfigError, exitOnUnhandledErrors, loggerOptions } from "@aitasks/config";
import { migrateDatabase } from "@aitasks/db";
import { pino } from "pino";
import { loadWorkerConfig, type WorkerConfig } from "./config.js";
import { createWorkerDeps } from "./deps.js";
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
exitOnUnhandledErrors(logger);
await migrateDatabase(config.DATABASE_URL);

const { deps, workerOptions, close } = createWorkerDeps(config, logger);

for (const [provider, key] of [
  ["openai", config.OPENAI_API_KEY],
  ["mistral", config.MISTRAL_API_KEY],
] as const) {
  if (!key) logger.warn(`${provider.toUpperCase()}_API_KEY is not set: ${provider} tasks will fail`);
}

const running = await startWorkers(deps, workerOptions);
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
  await close();
  logger.info("closed");
  process.exit(0);
}
process.once("SIGTERM", () => void shutdown("SIGTERM"));
process.once("SIGINT", () => void shutdown("SIGINT"));
