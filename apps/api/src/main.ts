import { ConfigError, exitOnUnhandledErrors, loggerOptions } from "@aitasks/config";
import { migrateDatabase } from "@aitasks/db";
import { pino } from "pino";
import { buildApp } from "./app.js";
import { type ApiConfig, loadApiConfig } from "./config.js";
import { createApiDeps } from "./deps.js";

let config: ApiConfig;
try {
  config = loadApiConfig();
} catch (error) {
  console.error(error instanceof ConfigError ? error.message : error);
  process.exit(1);
}

const logger = pino(loggerOptions(config.LOG_LEVEL));
exitOnUnhandledErrors(logger);
await migrateDatabase(config.DATABASE_URL);

const resources = createApiDeps(config, logger);
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
  await resources.close();
  clearTimeout(forced);
  logger.info("closed");
  process.exit(0);
}
process.once("SIGTERM", () => void shutdown("SIGTERM"));
process.once("SIGINT", () => void shutdown("SIGINT"));
