import { ConfigError, exitOnUnhandledErrors, loggerOptions } from "@aitasks/config";
import { migrateDatabase, poolerRefusal } from "@aitasks/db";
import { guardEvictionPolicy } from "@aitasks/queue";
import { pino } from "pino";
import { buildApp } from "./app.js";
import { type ApiConfig, loadApiConfig } from "./config.js";
import { createApiDeps } from "./deps.js";
import { trackConnectionsForClose } from "./http/closing-connections.js";

let config: ApiConfig;
try {
  config = loadApiConfig();
} catch (error) {
  console.error(error instanceof ConfigError ? error.message : error);
  process.exit(1);
}

const logger = pino(loggerOptions(config.LOG_LEVEL));
exitOnUnhandledErrors(logger);
await migrateDatabase(config.migrationUrl);

const resources = createApiDeps(config, logger);
// A pooler the URL does not declare refuses every connection of the pool: say so now, not as 503s.
await resources.database.sql`select 1`.catch((error) => {
  const refusal = poolerRefusal(error, "DATABASE_URL");
  if (!refusal) return;
  logger.fatal(refusal);
  process.exit(1);
});
guardEvictionPolicy(resources.redis, {
  allowEviction: config.REDIS_ALLOW_EVICTION,
  onRefused: (reason) => {
    logger.fatal(reason);
    process.exit(1);
  },
  onWarning: (message) => logger.warn(message),
});
const app = buildApp(resources.deps, { logger });
app.addHook("preClose", async () => resources.listener.releaseAll());

if (config.ADMIN_API_KEY.length === 0) {
  const warning =
    "OPEN MODE: no ADMIN_API_KEY is set, so anyone who reaches this port can read every task, report and statistic. " +
    "Set ADMIN_API_KEY before exposing the API beyond this machine.";
  // Loud whatever LOG_LEVEL says.
  if (logger.isLevelEnabled("warn")) logger.warn(warning);
  else console.error(warning);
}
const connections = trackConnectionsForClose(app.server);
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
  const closed = app.close();
  connections.close();
  await closed;
  await resources.close();
  clearTimeout(forced);
  logger.info("closed");
  process.exit(0);
}
process.once("SIGTERM", () => void shutdown("SIGTERM"));
process.once("SIGINT", () => void shutdown("SIGINT"));
