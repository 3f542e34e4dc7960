import { adminKeyDigests } from "@aitasks/auth";
import { batchPerTurn } from "@aitasks/batching";
import { type CheckoutDeps, createStripeClient } from "@aitasks/billing";
import { createCallbackUrlCheck, resolveWithSystem } from "@aitasks/callbacks";
import { createDatabase, type Database, isRefusedData } from "@aitasks/db";
import type { HealthCheck } from "@aitasks/metrics";
import type { PricingTable, ProviderName } from "@aitasks/providers";
import {
  closeQueues,
  createProducerConnection,
  createQueues,
  createSubscriberConnection,
  deliverCallbackJobOptions,
  ENQUEUE_TIMEOUT_MS,
  enqueue,
  enqueueMany,
  type Queues,
  type RedisClient,
  runTaskJobOptions,
} from "@aitasks/queue";
import {
  createTaskOutputReader,
  taskCanceledChannel,
  taskOutputChannel,
  taskStatusChannel,
} from "@aitasks/task-events";
import {
  type AcceptedTask,
  type BillingRules,
  findTask,
  findTasks,
  insertTasks,
  insertTaskWithoutUser,
  type TaskChangeFeed,
  type TaskFinishedSignal,
  type TaskOutputSource,
  type TaskReader,
  withoutUser,
} from "@aitasks/tasks";
import type { Logger } from "pino";
import { type ApiMetrics, createApiMetrics } from "./api-metrics.js";
import type { ApiConfig } from "./config.js";
import { createDashboardSessions, type DashboardSessions } from "./dashboard/session.js";
import { type TrustProxy, trustProxyOf } from "./http/trust-proxy.js";
import {
  type FailedAuthenticationLimiter,
  failedAuthenticationLimiter,
  type RateLimitOptions,
} from "./plugins/rate-limit.js";
import { createTaskListener } from "./task-listener.js";

/** Wrong admin keys one address may try on the dashboard's sign-in per minute. */
const DASHBOARD_SIGN_IN_FAILURES_PER_MINUTE = 10;

/** What the HTTP app needs; each route takes the part it uses (`Pick<AppDeps, ...>`). */
export interface AppDeps extends CheckoutDeps {
  db: Database;
  /**
   * Where reports, stats, lists and the ledger are read: the replica of DATABASE_READ_URL, else
   * `db`. A replica lags its primary by a little, so what a client has just written (its task)
   * is always read from `db`.
   */
  readDb: Database;
  pricing: PricingTable;
  defaultModels: Record<ProviderName, string>;
  enqueueTask: (taskId: number, priority: number) => Promise<void>;
  /** Stores a task without a user; those submitted together go as one statement. */
  insertTaskWithoutUser: (task: AcceptedTask) => Promise<number>;
  /** Reads a task by id for `GET /api/task/:id` and `?wait`; reads made together go as one statement. */
  readTask: TaskReader;
  enqueueTasks: (tasks: { id: number; priority: number }[]) => Promise<void>;
  taskFinished: TaskFinishedSignal;
  /** What event streams follow: tasks' changes as announced, and streamed runs' text so far. */
  taskEvents: { changes: TaskChangeFeed; outputs: TaskOutputSource; heartbeatMs: number };
  /** Tells the workers a task was canceled, so the one running it aborts its provider call. */
  announceCanceled: (taskId: number) => Promise<void>;
  /**
   * Checks a callback_url's host on submit (public addresses only, unless CALLBACK_ALLOW_PRIVATE_NETWORKS);
   * undefined without CALLBACK_SIGNING_SECRET: callbacks are not configured, and refused.
   */
  checkCallbackUrl: ((url: string) => Promise<void>) | undefined;
  /** Queues the callback of a task that ended here (a cancel). */
  enqueueCallback: (taskId: number) => Promise<void>;
  healthChecks: { database: HealthCheck; redis: HealthCheck };
  /** The queues themselves: the dashboard shows their depth, the queue board their jobs. */
  queues: Queues;
  /** Who is signed in to the dashboard and the queue board (a session cookie). */
  dashboardSessions: DashboardSessions;
  /** Wrong dashboard sign-ins per client address: always counted, whatever RATE_LIMIT_PER_MINUTE says. */
  signInFailures: FailedAuthenticationLimiter;
  /** This process's metrics registry, its request metrics and who may read `GET /metrics`. */
  metrics: ApiMetrics;
  stripeWebhookSecret: string | undefined;
  /** SHA-256 digests of ADMIN_API_KEY; empty means open mode. */
  adminKeyDigests: readonly Buffer[];
  /** Undefined: no rate limit. */
  rateLimit?: RateLimitOptions | undefined;
  corsOrigins?: readonly string[] | undefined;
  /** TRUST_PROXY: which peers' X-Forwarded-For gives `request.ip`. */
  trustProxy: TrustProxy;
  limits: { maxPromptChars: number; maxPendingTasksPerUser: number };
  /** Seconds the answer to a request with an Idempotency-Key is kept for replay (IDEMPOTENCY_TTL_S). */
  idempotencyTtlS: number;
  /** How tasks are sold, and the credit a paid subscription invoice grants (undefined: what it paid). */
  billing: BillingRules & { subscriptionCreditUsd: string | undefined };
}

/**
 * Batching, opted in here (`batchPerTurn`, docs/performance.md): the submissions without a user
 * and the reads by id of one event-loop turn go to Postgres as one statement each.
 */
export function batchedTaskAccess(db: Database): Pick<AppDeps, "insertTaskWithoutUser" | "readTask"> {
  return {
    insertTaskWithoutUser: batchPerTurn(
      (task: AcceptedTask) => insertTaskWithoutUser(db, task),
      (many: AcceptedTask[]) => insertTasks(db, many.map(withoutUser)),
      // A value Postgres refuses fails only its own submission: each is tried again alone.
      isRefusedData,
    ),
    readTask: batchPerTurn(
      (taskId: number) => findTask(db, taskId),
      async (taskIds: number[]) => {
        const byId = new Map((await findTasks(db, taskIds)).map((task) => [task.id, task]));
        return taskIds.map((taskId) => byId.get(taskId));
      },
    ),
  };
}

/**
 * Builds the API's dependencies from its configuration, once: `main.ts` and the tests' app use
 * this same wiring. `close` releases them (after the app has closed).
 */
export function createApiDeps(config: ApiConfig, logger: Logger) {
  const database = createDatabase(config.DATABASE_URL);
  const redis: RedisClient = createProducerConnection(config.redis);
  redis.on("error", (error) => logger.warn({ err: error }, "redis connection error"));
  const queues: Queues = createQueues(redis, config.QUEUE_PREFIX, (error) =>
    logger.warn({ err: error }, "queue error"),
  );
  const listener = createTaskListener(
    createSubscriberConnection(config.redis).on("error", () => {}),
    {
      status: taskStatusChannel(config.QUEUE_PREFIX),
      canceled: taskCanceledChannel(config.QUEUE_PREFIX),
      output: taskOutputChannel(config.QUEUE_PREFIX),
    },
  );
  const adminDigests = adminKeyDigests(config.ADMIN_API_KEY);
  const readDatabase = config.DATABASE_READ_URL ? createDatabase(config.DATABASE_READ_URL) : undefined;
  const enqueueTasks = (tasks: { id: number; priority: number }[], timeoutMs?: number) =>
    enqueueMany(
      queues,
      "run-task",
      tasks.map(({ id, priority }) => ({
        payload: { taskId: id },
        options: runTaskJobOptions(config.TASK_MAX_ATTEMPTS, priority),
      })),
      timeoutMs,
    );
  const db = database.db;
  // Single submissions queued in the same turn go to Redis in one call (`batchPerTurn`).
  const enqueueTaskWithOthers = batchPerTurn(
    ({ id, priority }: { id: number; priority: number }) =>
      enqueue(queues, "run-task", { taskId: id }, runTaskJobOptions(config.TASK_MAX_ATTEMPTS, priority)),
    async (tasks: { id: number; priority: number }[]) => {
      await enqueueTasks(tasks, ENQUEUE_TIMEOUT_MS);
      return tasks.map(() => undefined);
    },
  );
  const deps: AppDeps = {
    db,
    readDb: readDatabase?.db ?? database.db,
    pricing: config.pricing,
    defaultModels: config.defaultModels,
    enqueueTask: (taskId, priority) => enqueueTaskWithOthers({ id: taskId, priority }),
    ...batchedTaskAccess(db),
    enqueueTasks,
    taskFinished: listener.signal,
    taskEvents: {
      changes: listener.changes,
      outputs: createTaskOutputReader(redis, config.QUEUE_PREFIX),
      heartbeatMs: config.EVENTS_HEARTBEAT_MS,
    },
    checkCallbackUrl: config.CALLBACK_SIGNING_SECRET
      ? createCallbackUrlCheck({
          allowPrivateNetworks: config.CALLBACK_ALLOW_PRIVATE_NETWORKS,
          resolveHost: resolveWithSystem,
        })
      : undefined,
    enqueueCallback: (taskId) =>
      enqueue(
        queues,
        "deliver-callback",
        { taskId },
        deliverCallbackJobOptions(config.CALLBACK_MAX_ATTEMPTS, config.CALLBACK_RETRY_BASE_MS),
      ),
    announceCanceled: async (taskId) => {
      await redis.publish(taskCanceledChannel(config.QUEUE_PREFIX), String(taskId));
    },
    healthChecks: { database: () => database.sql`select 1`, redis: () => redis.ping() },
    queues,
    dashboardSessions: createDashboardSessions({
      db: database.db,
      adminKeyDigests: adminDigests,
      ttlSeconds: config.DASHBOARD_SESSION_TTL_S,
    }),
    signInFailures: failedAuthenticationLimiter({
      perMinute: DASHBOARD_SIGN_IN_FAILURES_PER_MINUTE,
      redis,
      namespace: `${config.QUEUE_PREFIX}:dashboard-sign-in:`,
      refusal: "too many wrong admin keys from this address",
    }),
    metrics: createApiMetrics(config, { db: database.db, queues, pricing: config.pricing }),
    stripe: createStripeClient({ secretKey: config.STRIPE_SECRET_KEY, apiBaseUrl: config.STRIPE_API_BASE_URL }),
    stripeWebhookSecret: config.STRIPE_WEBHOOK_SECRET,
    adminKeyDigests: adminDigests,
    rateLimit:
      config.RATE_LIMIT_PER_MINUTE > 0
        ? { perMinute: config.RATE_LIMIT_PER_MINUTE, redis, namespace: `${config.QUEUE_PREFIX}:rate-limit:` }
        : undefined,
    corsOrigins: config.CORS_ORIGINS,
    trustProxy: trustProxyOf(config.TRUST_PROXY),
    limits: { maxPromptChars: config.MAX_PROMPT_CHARS, maxPendingTasksPerUser: config.MAX_PENDING_TASKS_PER_USER },
    idempotencyTtlS: config.IDEMPOTENCY_TTL_S,
    billing: {
      mode: config.BILLING_MODE,
      markup: config.PRICE_MARKUP,
      defaultMaxOutputTokens: config.DEFAULT_MAX_OUTPUT_TOKENS,
      subscriptionCreditUsd: config.SUBSCRIPTION_CREDIT_USD,
    },
    checkout: {
      subscriptionPriceId: config.STRIPE_SUBSCRIPTION_PRICE_ID,
      microPaymentAmountCents: config.MICRO_PAYMENT_AMOUNT_CENTS,
      currency: config.CURRENCY,
      publicBaseUrl: config.PUBLIC_BASE_URL,
    },
  };
  return {
    deps,
    database,
    redis,
    queues,
    listener,
    async close() {
      await listener.close();
      await closeQueues(queues);
      redis.disconnect();
      await database.close();
      await readDatabase?.close();
    },
  };
}
