import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { NotFoundError } from "@aitasks/errors";
import type { FastifyInstance } from "fastify";

const ASSETS: Record<string, string> = {
  "dashboard.css": "text/css; charset=utf-8",
  "charts.js": "text/javascript; charset=utf-8",
};

/**
 * Where `npm run build` puts the assets: dist/dashboard/assets, found from dist/api/main.mjs in
 * production and from this source file under the tests.
 */
function assetsDirectory(): string | undefined {
  return [
    new URL("../dashboard/assets/", import.meta.url),
    new URL("../../../../../dist/dashboard/assets/", import.meta.url),
  ]
    .map((url) => fileURLToPath(url))
    .find((path) => existsSync(`${path}charts.js`));
}

/** GET /dashboard/assets/:name: the pages' stylesheet and charts script, open to anyone. */
export function assetRoutes(app: FastifyInstance) {
  // Looked up once: `npm run build` has run before the API starts (npm start, the tests' setup).
  const directory = assetsDirectory();
  app.get("/assets/:name", async (request, reply) => {
    const name = (request.params as { name: string }).name;
    const type = ASSETS[name];
    if (!type || !directory) throw new NotFoundError(`no asset ${name}${directory ? "" : " (run npm run build)"}`);
    reply.header("cache-control", "public, max-age=300");
    return reply.type(type).send(readFileSync(`${directory}${name}`));
  });
}
