import { checkDependencies, onShutdownSignal, startProcess } from "@aitasks/config/start-process";
import { buildApp } from "./app.js";
import { loadApiConfig } from "./config.js";
import { createApiDeps } from "./deps.js";
import { trackConnectionsForClose } from "./http/closing-connections.js";

const { config, logger } = await startProcess(loadApiConfig);
const resources = createApiDeps(config, logger);
await checkDependencies(logger, {
  database: resources.database,
  redis: resources.redis,
  allowEviction: config.REDIS_ALLOW_EVICTION,
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

onShutdownSignal(logger, "closing: finishing in-flight requests", async () => {
  const forced = setTimeout(() => {
    logger.error("shutdown took too long; exiting");
    process.exit(1);
  }, 20_000).unref();
  const closed = app.close();
  connections.close();
  await closed;
  await resources.close();
  clearTimeout(forced);
});
