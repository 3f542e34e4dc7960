// The start-up and shutdown that the API's and the worker's main.ts share. Only `main.ts` calls these.
// An export of its own (`@aitasks/config/start-process`): what reads the configuration alone does
// not load the logger and the Redis client with it.
import { type createDatabase, migrateDatabase, poolerRefusal } from "@aitasks/db";
import { guardEvictionPolicy, type RedisClient } from "@aitasks/queue";
import { type Logger, pino } from "pino";
import { ConfigError, exitOnUnhandledErrors, loggerOptions } from "./index.js";

/**
 * Loads the process's configuration (a bad variable stops it, with the message alone), makes its
 * logger, sets the rule for errors nobody handled and brings the database schema up to date.
 */
export async function startProcess<Config extends { LOG_LEVEL: string; migrationUrl: string }>(
  loadConfig: () => Config,
): Promise<{ config: Config; logger: Logger }> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (error) {
    console.error(error instanceof ConfigError ? error.message : error);
    process.exit(1);
  }
  const logger = pino(loggerOptions(config.LOG_LEVEL));
  exitOnUnhandledErrors(logger);
  await migrateDatabase(config.migrationUrl);
  return { config, logger };
}

/**
 * Stops the process now, saying why, when Postgres or Redis is one it must not run on; keeps
 * watching Redis's eviction policy after that (`guardEvictionPolicy`).
 */
export async function checkDependencies(
  logger: Logger,
  dependencies: {
    database: Pick<ReturnType<typeof createDatabase>, "sql">;
    redis: RedisClient;
    /** REDIS_ALLOW_EVICTION */
    allowEviction: boolean;
  },
): Promise<void> {
  // A pooler the URL does not declare refuses every connection of the pool: say so now, not as
  // failed requests and jobs. Any other failure is left to the health checks and reconnects.
  await dependencies.database.sql`select 1`.catch((error) => {
    const refusal = poolerRefusal(error, "DATABASE_URL");
    if (!refusal) return;
    logger.fatal(refusal);
    process.exit(1);
  });
  guardEvictionPolicy(dependencies.redis, {
    allowEviction: dependencies.allowEviction,
    onRefused: (reason) => {
      logger.fatal(reason);
      process.exit(1);
    },
    onWarning: (message) => logger.warn(message),
  });
}

/**
 * On the first SIGTERM or SIGINT: logs `closingMessage` with the signal, runs `close`, logs "closed" and
 * exits 0. A second signal while closing changes nothing; a `close` that throws is an unhandled
 * rejection, which exits 1 (`exitOnUnhandledErrors`).
 */
export function onShutdownSignal(logger: Logger, closingMessage: string, close: () => Promise<void>): void {
  let closing = false;
  const shutdown = async (signal: NodeJS.Signals) => {
    if (closing) return;
    closing = true;
    logger.info({ signal }, closingMessage);
    await close();
    logger.info("closed");
    process.exit(0);
  };
  process.once("SIGTERM", () => void shutdown("SIGTERM"));
  process.once("SIGINT", () => void shutdown("SIGINT"));
}
