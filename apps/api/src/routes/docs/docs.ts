import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { NotFoundError } from "@aitasks/errors";
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { buildOpenApiDocument, type RegisteredRoute } from "../../http/openapi.js";
import { parseInput } from "../../http/parse-input.js";
import { contract } from "../../http/route-contract.js";

// The page loads swagger-ui from our own origin (the swagger-ui-dist package), never a CDN, and
// asks it for nothing elsewhere: the validator badge, which would send the document to
// validator.swagger.io, is off.
const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>AI task service: API</title>
<link rel="stylesheet" href="/docs/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/swagger-ui-bundle.js"></script>
<script src="/docs/start.js"></script>
</body>
</html>
`;
// A file rather than an inline script: the CSP (script-src 'self') refuses inline scripts.
const START = `window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
});
`;

const swaggerUiDir = () => dirname(createRequire(import.meta.url).resolve("swagger-ui-dist/package.json"));
/** Read on first use, then kept: 1.9 MB that most processes (and tests) never serve. */
let swaggerUiFiles: Map<string, Buffer> | undefined;
function assetOf(file: string): { body: Buffer | string; type: string } | undefined {
  if (file === "start.js") return { body: START, type: "text/javascript; charset=utf-8" };
  const type = {
    "swagger-ui.css": "text/css; charset=utf-8",
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
  }[file];
  if (!type) return undefined;
  swaggerUiFiles ??= new Map();
  let body = swaggerUiFiles.get(file);
  if (!body) {
    body = readFileSync(join(swaggerUiDir(), file));
    swaggerUiFiles.set(file, body);
  }
  return { body, type };
}

const DocsAssetParams = z.object({ file: z.string().describe("start.js, swagger-ui-bundle.js or swagger-ui.css") });

/** What `GET /openapi.json` answers, in outline: the document says the rest of itself. */
const OpenApiDocument = z
  .looseObject({
    openapi: z.string().describe("3.1.x"),
    info: z.looseObject({ title: z.string(), version: z.string() }),
    servers: z.array(z.looseObject({ url: z.string() })),
    paths: z.record(z.string(), z.looseObject({})),
    components: z.looseObject({}),
  })
  .describe("An OpenAPI 3.1 document (https://spec.openapis.org/oas/v3.1.1)");

/**
 * `GET /openapi.json` and the browsable `GET /docs`. Both are public, like /health: they describe
 * the API and show no data, and the API's own routes still ask for their keys. The document is
 * built once, when the app is ready, from every route registered with a contract.
 */
export function docsRoutes(app: FastifyInstance, routes: readonly RegisteredRoute[]) {
  let document = "";
  app.addHook("onReady", async () => {
    document = JSON.stringify(buildOpenApiDocument(routes));
  });

  app.get(
    "/openapi.json",
    contract({
      id: "getOpenApiDocument",
      tag: "Service",
      summary: "This document (OpenAPI 3.1)",
      access: "public",
      // The document is sent as the text built at start: the serializer has nothing to do with it.
      responses: { 200: { description: "the OpenAPI document", schema: OpenApiDocument, streamed: true } },
    }),
    async (_request, reply) => reply.type("application/json; charset=utf-8").send(document),
  );

  app.get(
    "/docs",
    contract({
      id: "getDocsPage",
      tag: "Service",
      summary: "This API, browsable (swagger-ui, served from here)",
      access: "public",
      responses: { 200: { description: "an HTML page", content: { "text/html": undefined } } },
    }),
    async (_request, reply) => {
      // The page is served over whatever the deployment speaks: on plain HTTP (a LAN address),
      // upgrade-insecure-requests would send its scripts to https:// and leave it blank. The
      // rest of the policy stays; it only ever weakens this one page's subresource scheme.
      const policy = String(reply.getHeader("content-security-policy") ?? "");
      reply.header("content-security-policy", policy.replace(/;?\s*upgrade-insecure-requests/, ""));
      return reply.type("text/html; charset=utf-8").send(PAGE);
    },
  );

  app.get(
    "/docs/:file",
    contract({
      id: "getDocsAsset",
      tag: "Service",
      summary: "A script or style sheet of the docs page",
      access: "public",
      params: DocsAssetParams,
      responses: {
        200: { description: "the file", content: { "text/javascript": undefined, "text/css": undefined } },
        404: "no such file",
      },
    }),
    async (request, reply) => {
      const asset = assetOf(parseInput(DocsAssetParams, request.params).file);
      if (!asset) throw new NotFoundError("no such file of the docs page");
      return reply.type(asset.type).header("cache-control", "public, max-age=3600").send(asset.body);
    },
  );
}
