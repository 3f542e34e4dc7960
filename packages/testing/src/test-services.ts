import { DEFAULT_DATABASE_URL, DEFAULT_REDIS_URL } from "@aitasks/config";
import { Redis } from "ioredis";
import postgres from "postgres";

export interface TestServices {
  databaseUrl: string;
  redisUrl: string;
  /** One line for the start of the run: which services the tests use, and why those. */
  summary: string;
  /** Stops whatever was started for the run (containers); nothing when the services were found. */
  stop(): Promise<void>;
}

type Env = Record<string, string | undefined>;

interface Service {
  name: "Postgres" | "Redis";
  testVariable: "TEST_DATABASE_URL" | "TEST_REDIS_URL";
  appVariable: "DATABASE_URL" | "REDIS_URL";
  fallback: string;
  answers(url: string): Promise<void>;
  startContainer(): Promise<{ url: string; stop(): Promise<unknown> }>;
}

export interface FindTestServicesOptions {
  /** The URLs `npm start` uses when DATABASE_URL / REDIS_URL are unset. */
  defaults?: { databaseUrl: string; redisUrl: string };
  /** Replaces testcontainers (tests of this function). */
  startContainer?: (service: "Postgres" | "Redis") => Promise<{ url: string; stop(): Promise<unknown> }>;
}

/**
 * Finds the Postgres and Redis the tests run against, each on its own: the TEST_ variable when
 * set; else the service `npm start` would use (DATABASE_URL / REDIS_URL, or their defaults) when
 * it answers; else a container, where Docker runs. The README's Quick start promises that
 * `npm test` passes with nothing but the services at the defaults.
 */
export async function findTestServices(env: Env, options: FindTestServicesOptions = {}): Promise<TestServices> {
  const defaults = options.defaults ?? { databaseUrl: DEFAULT_DATABASE_URL, redisUrl: DEFAULT_REDIS_URL };
  const services: Service[] = [
    {
      name: "Postgres",
      testVariable: "TEST_DATABASE_URL",
      appVariable: "DATABASE_URL",
      fallback: defaults.databaseUrl,
      answers: postgresAnswers,
      startContainer: options.startContainer
        ? () => options.startContainer!("Postgres")
        : async () => {
            // Imported only here: where Docker is absent the package is never loaded.
            const { PostgreSqlContainer } = await import("@testcontainers/postgresql");
            const container = await new PostgreSqlContainer("postgres:16-alpine").start();
            return { url: container.getConnectionUri(), stop: () => container.stop() };
          },
    },
    {
      name: "Redis",
      testVariable: "TEST_REDIS_URL",
      appVariable: "REDIS_URL",
      fallback: defaults.redisUrl,
      answers: redisAnswers,
      startContainer: options.startContainer
        ? () => options.startContainer!("Redis")
        : async () => {
            const { RedisContainer } = await import("@testcontainers/redis");
            const container = await new RedisContainer("redis:7-alpine").start();
            return { url: container.getConnectionUrl(), stop: () => container.stop() };
          },
    },
  ];

  const stops: (() => Promise<unknown>)[] = [];
  const stop = async () => {
    for (const stopOne of stops.splice(0)) await stopOne();
  };
  const found: { url: string; origin: string }[] = [];
  try {
    for (const service of services) {
      found.push(await findService(service, env, stops));
    }
  } catch (error) {
    await stop();
    throw error;
  }
  const [database, redis] = found as [(typeof found)[0], (typeof found)[0]];
  return {
    databaseUrl: database.url,
    redisUrl: redis.url,
    summary: `tests use Postgres ${withoutPassword(database.url)} (${database.origin}) and Redis ${withoutPassword(redis.url)} (${redis.origin})`,
    stop,
  };
}

async function findService(service: Service, env: Env, stops: (() => Promise<unknown>)[]) {
  const given = env[service.testVariable];
  if (given) return { url: given, origin: service.testVariable };

  const appUrl = env[service.appVariable];
  const url = appUrl || service.fallback;
  const origin = appUrl ? service.appVariable : "the npm start default";
  let unanswered: string;
  try {
    await service.answers(url);
    return { url, origin };
  } catch (error) {
    unanswered = `${withoutPassword(url)} (${origin}) did not answer: ${(error as Error).message}`;
  }

  try {
    const container = await service.startContainer();
    stops.push(container.stop);
    return { url: container.url, origin: "a testcontainers container" };
  } catch (error) {
    throw new Error(
      `The tests need a real ${service.name}. ${unanswered}; and testcontainers could not start one: ` +
        `${(error as Error).message}. Start ${service.name} there, or set ${service.testVariable} ` +
        `(for example ${service.name === "Postgres" ? "postgres://postgres@127.0.0.1:5432/postgres" : "redis://127.0.0.1:6379"}).`,
    );
  }
}

async function postgresAnswers(url: string) {
  const sql = postgres(url, { max: 1, connect_timeout: 3, onnotice: () => {} });
  try {
    await sql`select 1`;
  } finally {
    await sql.end({ timeout: 1 });
  }
}

async function redisAnswers(url: string) {
  const redis = new Redis(url, {
    lazyConnect: true,
    connectTimeout: 3000,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  });
  redis.on("error", () => {});
  try {
    await redis.connect();
    await redis.ping();
  } finally {
    redis.disconnect();
  }
}

function withoutPassword(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "***";
    return parsed.toString();
  } catch {
    return url;
  }
}
