import { adminKeyDigests } from "@aitasks/auth";
import { createStripeClient } from "@aitasks/billing";
import { ConfigError, loggerOptions } from "@aitasks/config";
import { createDatabase, migrateDatabase } from "@aitasks/db";
import {
  closeQueues,
  createProducerConnection,
  createQueues,
  enqueue,
  runTaskJobOptions,
  taskFinishedChannel,
} from "@aitasks/queue";
import { pino } from "pino";
import { buildApp } from "./app.js";
import { loadApiConfig } from "./config.js";
import { createTaskFinishedListener } from "./plugins/task-finished-listener.js";

let config: ReturnType<typeof loadApiConfig>;
try {
  config = loadApiConfig();
} catch (error) {
  console.error(error instanceof ConfigError ? error.message : error);
  process.exit(1);
}

const logger = pino(loggerOptions(config.LOG_LEVEL));
await migrateDatabase(config.DATABASE_URL);

const database = createDatabase(config.DATABASE_URL);
const redis = createProducerConnection(config.REDIS_URL);
redis.on("error", (error) => logger.warn({ err: error }, "redis connection error"));
const queues = createQueues(redis, config.QUEUE_PREFIX, (error) => logger.warn({ err: error }, "queue error"));
const listener = createTaskFinishedListener(
  // A subscriber that waits for Redis as long as it takes: its SUBSCRIBE must not time out.
  createProducerConnection(config.REDIS_URL, {
    enableOfflineQueue: true,
    maxRetriesPerRequest: null,
    commandTimeout: undefined,
  }).on("error", () => {}),
  taskFinishedChannel(config.QUEUE_PREFIX),
);
const jobOptions = runTaskJobOptions(config.TASK_MAX_ATTEMPTS);

const app = buildApp(
  {
    db: database.db,
    pricing: config.pricing,
    defaultModels: config.defaultModels,
    enqueueTask: (taskId) => enqueue(queues, "run-task", { taskId }, jobOptions),
    taskFinished: listener.signal,
    healthChecks: { database: () => database.sql`select 1`, redis: () => redis.ping() },
    stripe: createStripeClient({ secretKey: config.STRIPE_SECRET_KEY, apiBaseUrl: config.STRIPE_API_BASE_URL }),
    stripeWebhookSecret: config.STRIPE_WEBHOOK_SECRET,
    adminKeyDigests: adminKeyDigests(config.ADMIN_API_KEY),
    rateLimit:
      config.RATE_LIMIT_PER_MINUTE > 0
        ? { perMinute: config.RATE_LIMIT_PER_MINUTE, redis, namespace: `${config.QUEUE_PREFIX}:rate-limit:` }
        : undefined,
    corsOrigins: config.CORS_ORIGINS,
    limits: { maxPromptChars: config.MAX_PROMPT_CHARS, maxPendingTasksPerUser: config.MAX_PENDING_TASKS_PER_USER },
    checkout: {
      subscriptionPriceId: config.STRIPE_SUBSCRIPTION_PRICE_ID,
      microPaymentAmountCents: config.MICRO_PAYMENT_AMOUNT_CENTS,
      currency: config.CURRENCY,
      publicBaseUrl: config.PUBLIC_BASE_URL,
    },
  },
  { logger },
);
app.addHook("preClose", async () => listener.releaseAll());

if (config.ADMIN_API_KEY.length === 0) {
  const warning =
    "OPEN MODE: no ADMIN_API_KEY is set, so anyone who reaches this port can read every task, report and statistic. " +
    "Set ADMIN_API_KEY before exposing the API beyond this machine.";
  // Loud whatever LOG_LEVEL says.
  if (logger.isLevelEnabled("warn")) logger.warn(warning);
  else console.error(warning);
}
await app.listen({ port: config.PORT, host: config.HOST });

let closing = false;
async function shutdown(signal: string) {
  if (closing) return;
  closing = true;
  logger.info({ signal }, "closing: finishing in-flight requests");
  const forced = setTimeout(() => {
    logger.error("shutdown took too long; exiting");
    process.exit(1);
  }, 20_000).unref();
  await app.close();
  await listener.close();
  await closeQueues(queues);
  redis.disconnect();
  await database.close();
  clearTimeout(forced);
  logger.info("closed");
  process.exit(0);
}
process.once("SIGTERM", () => void shutdown("SIGTERM"));
process.once("SIGINT", () => void shutdown("SIGINT"));
