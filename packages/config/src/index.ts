import { isIP } from "node:net";
import {
  chooseMigrationTarget,
  currencyExponent,
  DEFAULT_DATABASE_URL,
  decimalAmount,
  isConnectionLost,
  parseAmount,
} from "@aitasks/db";
import { findPrice, PROVIDER_NAMES, type PricingTable, type ProviderName, readPricingFile } from "@aitasks/providers";
import type { HostPort, RedisTarget } from "@aitasks/queue";
import { z } from "zod";

export { DEFAULT_DATABASE_URL } from "@aitasks/db";
export const DEFAULT_REDIS_URL = "redis://127.0.0.1:6379";

const port = z.coerce.number().int().min(1).max(65535);
const positiveInt = (max: number) => z.coerce.number().int().min(1).max(max);
const url = (protocols: RegExp, example: string) =>
  z.url({ protocol: protocols, error: `must be a URL like ${example}` });

// Comma-separated; each grants everything. None set: the API runs open (local use only).
const adminApiKeys = z
  .string()
  .transform((keys) =>
    keys
      .split(",")
      .map((key) => key.trim())
      .filter(Boolean),
  )
  .pipe(z.array(z.string().min(16, "each key must be at least 16 characters")))
  .default([]);

// proxy-addr's names for the usual ranges, which Fastify's trustProxy understands.
const PROXY_RANGE_NAMES = new Set(["loopback", "linklocal", "uniquelocal"]);

/** An address, a CIDR (`10.0.0.0/8`, `fd00::/8`) or a range name. */
function isProxyAddress(item: string): boolean {
  if (PROXY_RANGE_NAMES.has(item)) return true;
  const [address = "", prefix, ...rest] = item.split("/");
  const family = isIP(address);
  if (family === 0 || rest.length > 0) return false;
  return prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128));
}

/**
 * Which peers may say who the client is (X-Forwarded-For): a hop count, or the proxies' addresses
 * and CIDRs; unset or 0: none, and X-Forwarded-For changes nothing. Never "every peer": any
 * client could then pick the address its limits are counted under.
 */
const trustProxy = z
  .string()
  .transform((value, context): false | number | string[] => {
    if (/^\d+$/.test(value)) {
      const hops = Number(value);
      if (hops <= 100) return hops === 0 ? false : hops;
    }
    const items = value
      .split(",")
      .map((item) => item.trim())
      .filter(Boolean);
    if (items.length > 0 && items.every(isProxyAddress)) return items;
    context.addIssue({
      code: "custom",
      message:
        (value === "true" ? "true would let any client choose its address: give instead " : "must be ") +
        "a hop count (like 1: the load balancer in front of the API) or the proxies' addresses " +
        "and CIDRs separated by commas (like 10.0.0.0/8,192.168.1.10, or loopback, linklocal, uniquelocal)",
    });
    return z.NEVER;
  })
  .default(false);

/** Variables every process reads. */
export const CommonEnv = z.object({
  DATABASE_URL: url(/^postgres(ql)?$/, "postgres://user:password@host:5432/db").default(DEFAULT_DATABASE_URL),
  // Migrations' own way to Postgres, when DATABASE_URL goes through PgBouncer (see loadMigrationUrl).
  DATABASE_MIGRATION_URL: url(/^postgres(ql)?$/, "postgres://user:password@host:5432/db").optional(),
  REDIS_URL: url(/^rediss?$/, "redis://host:6379").default(DEFAULT_REDIS_URL),
  // BullMQ key prefix; a Redis Cluster hash tag such as `{ai}` keeps a queue's keys in one slot.
  QUEUE_PREFIX: z
    .string()
    .regex(/^[^\s:]+$/, "must be non-empty, without spaces or ':'")
    .default("bull"),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  PRICING_FILE: z.string().optional(),
  OPENAI_MODEL: z.string().min(1).default("gpt-4o-mini"),
  MISTRAL_MODEL: z.string().min(1).default("mistral-small-latest"),
  // Read by the API too: it is part of each job's options when the task is queued.
  TASK_MAX_ATTEMPTS: positiveInt(100).default(3),
  // Callbacks: the API refuses a callback_url without the secret; the worker signs with it.
  CALLBACK_SIGNING_SECRET: z
    .string()
    .regex(/^whsec_[A-Za-z0-9+/]+={0,2}$/, "must be whsec_ followed by base64 (Standard Webhooks)")
    .refine((secret) => {
      const bytes = Buffer.from(secret.slice("whsec_".length), "base64").length;
      return bytes >= 24 && bytes <= 64;
    }, "must encode 24 to 64 random bytes after whsec_ (32 is usual)")
    .optional(),
  // Read by the API too: it queues a canceled task's callback, with these in its job's options.
  CALLBACK_MAX_ATTEMPTS: positiveInt(100).default(12),
  CALLBACK_RETRY_BASE_MS: positiveInt(3_600_000).default(5000),
  CALLBACK_ALLOW_PRIVATE_NETWORKS: z
    .enum(["true", "false"], { error: 'must be "true" or "false"' })
    .transform((value) => value === "true")
    .default(false),
  // Redis Cluster or Sentinel instead of the one server of REDIS_URL (see loadRedisTarget).
  REDIS_CLUSTER_NODES: z.string().optional(),
  REDIS_SENTINELS: z.string().optional(),
  REDIS_SENTINEL_NAME: z.string().optional(),
  // A Redis whose maxmemory-policy is not noeviction is refused at start-up unless this is true.
  REDIS_ALLOW_EVICTION: z
    .enum(["true", "false"], { error: 'must be "true" or "false"' })
    .transform((value) => value === "true")
    .default(false),
  // What Prometheus presents (Bearer) to read /metrics, besides an admin key.
  METRICS_TOKEN: z
    .string()
    .regex(/^\S{16,}$/, "must be at least 16 characters, without spaces")
    .optional(),
});

export const ApiEnv = CommonEnv.extend({
  PORT: port.default(5000),
  HOST: z.string().min(1).default("0.0.0.0"),
  STRIPE_SECRET_KEY: z.string().optional(),
  STRIPE_WEBHOOK_SECRET: z.string().optional(),
  STRIPE_API_BASE_URL: url(/^https?$/, "http://127.0.0.1:12111").optional(),
  STRIPE_SUBSCRIPTION_PRICE_ID: z.string().optional(),
  MICRO_PAYMENT_AMOUNT_CENTS: positiveInt(99_999_999).default(100),
  CURRENCY: z
    .string()
    .regex(/^[a-z]{3}$/, "must be a lowercase ISO currency code such as usd")
    .default("usd"),
  PUBLIC_BASE_URL: url(/^https?$/, "https://tasks.example.com").default("http://localhost:5000"),
  // A read replica for reports, stats, lists and the ledger; single tasks are always read from DATABASE_URL.
  DATABASE_READ_URL: url(/^postgres(ql)?$/, "postgres://user:password@replica:5432/db").optional(),
  NODE_ENV: z.string().optional(),
  ADMIN_API_KEY: adminApiKeys,
  // Requests per minute per API key (per client IP in open mode), shared by every API process; 0 turns it off.
  RATE_LIMIT_PER_MINUTE: z.coerce.number().int().min(0).max(10_000_000).default(1200),
  // Unfinished (pending or processing) tasks one user may have; 0 turns the quota off.
  MAX_PENDING_TASKS_PER_USER: z.coerce.number().int().min(0).max(10_000_000).default(1000),
  MAX_PROMPT_CHARS: positiveInt(1_000_000).default(100_000),
  // How long the answer to a request with an Idempotency-Key is kept for replay (seconds from its first request).
  IDEMPOTENCY_TTL_S: positiveInt(31_536_000).default(86_400),
  // A task event stream quiet this long gets a heartbeat comment (proxies close idle connections).
  EVENTS_HEARTBEAT_MS: positiveInt(600_000).default(15_000),
  // How long a dashboard sign-in lasts, in seconds (then the operator signs in again).
  DASHBOARD_SESSION_TTL_S: positiveInt(2_592_000).default(43_200),
  // open: tasks need no credit (the original service); prepaid: each task is paid from its user's credit.
  BILLING_MODE: z.enum(["open", "prepaid"], { error: 'must be "open" or "prepaid"' }).default("open"),
  // Sale price = provider cost × this, for models without their own `sell` prices in PRICING_FILE.
  PRICE_MARKUP: decimalAmount("PRICE_MARKUP")
    // Zod runs this even when the amount's own rule failed: only a readable amount is compared.
    .refine((markup) => !/^\d+(\.\d+)?$/.test(markup) || parseAmount(markup) >= parseAmount("1"), {
      message: "must be at least 1 (selling below cost)",
    })
    .default("1"),
  // The credit a paid subscription invoice grants, in USD; unset: what the invoice paid.
  SUBSCRIPTION_CREDIT_USD: decimalAmount("SUBSCRIPTION_CREDIT_USD").optional(),
  // The output limit sent to the provider when a prepaid task names none (it bounds the task's hold).
  DEFAULT_MAX_OUTPUT_TOKENS: positiveInt(10_000_000).default(1024),
  // Behind a load balancer: who may set X-Forwarded-For, so that per-address limits see the client.
  TRUST_PROXY: trustProxy,
  // Comma-separated origins allowed by CORS; unset means no CORS headers at all.
  CORS_ORIGINS: z
    .string()
    .transform((origins) =>
      origins
        .split(",")
        .map((origin) => origin.trim())
        .filter(Boolean),
    )
    .optional(),
})
  .refine((env) => env.NODE_ENV !== "production" || env.ADMIN_API_KEY.length > 0, {
    path: ["ADMIN_API_KEY"],
    message: "is required when NODE_ENV=production (the API would otherwise run open to anyone)",
  })
  .refine((env) => env.BILLING_MODE !== "prepaid" || env.ADMIN_API_KEY.length > 0, {
    path: ["BILLING_MODE"],
    message: "prepaid needs ADMIN_API_KEY: open mode would let anyone grant themselves credit",
  })
  // Stripe takes three-decimal amounts only in whole tens of the smallest unit (docs.stripe.com/currencies).
  .refine((env) => currencyExponent(env.CURRENCY) !== 3 || env.MICRO_PAYMENT_AMOUNT_CENTS % 10 === 0, {
    path: ["MICRO_PAYMENT_AMOUNT_CENTS"],
    message:
      "must be a multiple of 10 for a three-decimal CURRENCY (Stripe's rule): it is in the currency's smallest unit",
  });
export type ApiEnv = z.infer<typeof ApiEnv>;

export const WorkerEnv = CommonEnv.extend({
  OPENAI_API_KEY: z.string().optional(),
  OPENAI_BASE_URL: url(/^https?$/, "https://host:port").optional(),
  MISTRAL_API_KEY: z.string().optional(),
  MISTRAL_BASE_URL: url(/^https?$/, "https://host:port").optional(),
  WORKER_CONCURRENCY: positiveInt(10_000).default(20),
  PROVIDER_TIMEOUT_MS: positiveInt(3_600_000).default(60_000),
  // How long a job's lock lives without renewal; a crashed worker's jobs are taken over after about this long.
  WORKER_LOCK_DURATION_MS: positiveInt(3_600_000).default(30_000),
  // How long a closing worker waits for in-flight jobs before it hands them back.
  SHUTDOWN_TIMEOUT_MS: positiveInt(3_600_000).default(30_000),
  // Unfinished tasks untouched for this long are put back on the queue by the reconciler.
  RECONCILE_AFTER_MS: positiveInt(86_400_000).default(120_000),
  REPORT_ROLLUP_INTERVAL_MS: positiveInt(86_400_000).default(60_000),
  // One callback attempt: connecting, the receiver's answer and reading its body (up to 64 KiB).
  CALLBACK_TIMEOUT_MS: positiveInt(600_000).default(10_000),
  // The worker's own HTTP server (/metrics, /health); 0 turns it off.
  WORKER_HTTP_PORT: z.coerce.number().int().min(0).max(65535).default(9464),
  // Read by the worker only to let an admin key read its /metrics, as on the API.
  ADMIN_API_KEY: adminApiKeys,
});
export type WorkerEnv = z.infer<typeof WorkerEnv>;

export class ConfigError extends Error {
  override name = "ConfigError";
}

/**
 * Parses the environment once. Empty values count as unset, so `OPENAI_API_KEY=` in a compose
 * file means "no key" rather than "an empty key". Errors name each variable and what is wrong.
 */
export function parseEnv<S extends z.ZodType>(schema: S, env: Record<string, string | undefined>): z.infer<S> {
  const present = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== undefined && value !== ""));
  const result = schema.safeParse(present);
  if (!result.success) {
    const lines = result.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`);
    throw new ConfigError(`invalid configuration:\n  ${lines.join("\n  ")}`);
  }
  return result.data;
}

/** Loads PRICING_FILE over the built-in prices and checks that each provider's default model has a price. */
export function loadPricing(vars: z.infer<typeof CommonEnv>) {
  let pricing: PricingTable;
  try {
    pricing = readPricingFile(vars.PRICING_FILE);
  } catch (error) {
    throw new ConfigError(`invalid configuration:\n  ${(error as Error).message}`);
  }
  const defaultModels: Record<ProviderName, string> = { openai: vars.OPENAI_MODEL, mistral: vars.MISTRAL_MODEL };
  for (const provider of PROVIDER_NAMES) {
    if (!findPrice(pricing, provider, defaultModels[provider])) {
      const variable = `${provider.toUpperCase()}_MODEL`;
      throw new ConfigError(
        `invalid configuration:\n  ${variable}: "${defaultModels[provider]}" is not a priced ${provider} model; add it to PRICING_FILE`,
      );
    }
  }
  return { pricing, defaultModels };
}

/** Where migrations run (`chooseMigrationTarget`, which `npm run db:migrate` follows too). */
export function loadMigrationUrl(vars: z.infer<typeof CommonEnv>): string {
  const target = chooseMigrationTarget(vars.DATABASE_URL, vars.DATABASE_MIGRATION_URL);
  if ("refusal" in target) throw new ConfigError(`invalid configuration:\n  ${target.refusal}`);
  return target.url;
}

const HOST_PORT = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/;

/** `host:port,host:port` (IPv6 as `[::1]:7000`), or the reason it is not. */
function hostPortList(variable: string, value: string): HostPort[] {
  const nodes = value.split(",").map((item) => item.trim());
  const parsed = nodes.map((node) => {
    const match = HOST_PORT.exec(node);
    const port = Number(match?.[3]);
    return match && port >= 1 && port <= 65535 ? { host: (match[1] ?? match[2])!, port } : undefined;
  });
  if (nodes.length === 0 || parsed.some((node) => node === undefined)) {
    throw new ConfigError(
      `invalid configuration:\n  ${variable}: must be host:port pairs separated by commas, like 10.0.0.1:7000,10.0.0.2:7000`,
    );
  }
  return parsed as HostPort[];
}

/**
 * Which Redis to connect to: REDIS_URL's one server, a Redis Cluster (REDIS_CLUSTER_NODES), or
 * the master Sentinel names (REDIS_SENTINELS, REDIS_SENTINEL_NAME); REDIS_URL's scheme, user and
 * password apply to the nodes in each case. On a cluster every queue's keys must share one slot,
 * so QUEUE_PREFIX must hold a `{hash tag}`: without one BullMQ's scripts fail at the first job.
 */
export function loadRedisTarget(vars: z.infer<typeof CommonEnv>): RedisTarget {
  const refuse = (message: string) => new ConfigError(`invalid configuration:\n  ${message}`);
  const cluster = vars.REDIS_CLUSTER_NODES;
  const sentinels = vars.REDIS_SENTINELS;
  if (cluster && sentinels) {
    throw refuse("REDIS_CLUSTER_NODES: set either it or REDIS_SENTINELS, not both");
  }
  if (cluster) {
    if (!/\{[^{}]+\}/.test(vars.QUEUE_PREFIX)) {
      throw refuse(
        `QUEUE_PREFIX: on Redis Cluster it must hold a {hash tag}, such as {aitasks}, so that each queue's keys live in one slot (now "${vars.QUEUE_PREFIX}")`,
      );
    }
    if (!["", "/", "/0"].includes(new URL(vars.REDIS_URL).pathname)) {
      throw refuse("REDIS_URL: a Redis Cluster has only database 0; remove the database number");
    }
    return { kind: "cluster", nodes: hostPortList("REDIS_CLUSTER_NODES", cluster), url: vars.REDIS_URL };
  }
  if (sentinels) {
    if (!vars.REDIS_SENTINEL_NAME) {
      throw refuse("REDIS_SENTINEL_NAME: required with REDIS_SENTINELS: the name of the master the sentinels watch");
    }
    return {
      kind: "sentinel",
      sentinels: hostPortList("REDIS_SENTINELS", sentinels),
      name: vars.REDIS_SENTINEL_NAME,
      url: vars.REDIS_URL,
    };
  }
  if (vars.REDIS_SENTINEL_NAME) throw refuse("REDIS_SENTINEL_NAME: set REDIS_SENTINELS too, or remove it");
  return { kind: "single", url: vars.REDIS_URL };
}

/**
 * A promise nobody awaited that failed, or an exception nobody caught, leaves the process in a state
 * nothing was written for: log it and exit, so the supervisor restarts it (BullMQ's production
 * guide). Jobs a worker held go back to the queue when their lock expires. Only `main.ts` calls this.
 */
export function exitOnUnhandledErrors(logger: {
  fatal(object: object, message: string): void;
  error(object: object, message: string): void;
}) {
  for (const event of ["unhandledRejection", "uncaughtException"] as const) {
    process.on(event, (error) => {
      // A dropped connection's error: postgres.js can reject a promise of its own with one when
      // Postgres becomes unreachable mid-query (the booking-outage chaos test saw a worker exit so,
      // holding a provider's answer it had paid for). Every caller got its own error and the pool
      // reconnects, so exiting would only drop the jobs and requests the process holds.
      if (event === "unhandledRejection" && isConnectionLost(error)) {
        logger.error({ err: error }, `${event} of a lost connection: going on`);
        return;
      }
      logger.fatal({ err: error }, `${event}: exiting`);
      process.exit(1);
    });
  }
}

/** pino options shared by both apps: readable lines on a terminal, JSON lines otherwise. */
export function loggerOptions(level: string) {
  return {
    level,
    redact: {
      paths: ["req.headers.authorization", "req.headers['x-api-key']", "req.headers['stripe-signature']"],
      remove: true,
    },
    ...(process.stdout.isTTY
      ? { transport: { target: "pino-pretty", options: { translateTime: "SYS:HH:MM:ss.l", ignore: "pid,hostname" } } }
      : {}),
  };
}
