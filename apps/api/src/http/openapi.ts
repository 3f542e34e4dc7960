import { contractSchemas } from "@aitasks/contract";
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { ERROR_CODES } from "./errors.js";
import {
  answerOf,
  jsonSchemaOf,
  REQUEST_HEADERS,
  RESPONSE_HEADERS,
  type RouteContract,
  tidySchema,
} from "./route-contract.js";

/** A route as Fastify registered it, with its contract if it has one. */
export interface RegisteredRoute {
  method: string;
  url: string;
  contract: RouteContract | undefined;
}

const registered = new WeakMap<FastifyInstance, RegisteredRoute[]>();

/** The operator's web pages (docs/dashboard.md): HTML for a browser, not part of the API's contract. */
const WEB_PAGES = /^\/(dashboard|admin\/queues)(\/|$)/;

/** Records every route registered on `app` from now on: call it before registering any. */
export function collectRoutes(app: FastifyInstance): readonly RegisteredRoute[] {
  const routes: RegisteredRoute[] = [];
  registered.set(app, routes);
  app.addHook("onRoute", (route) => {
    if (WEB_PAGES.test(route.url)) return;
    for (const method of [route.method].flat()) {
      routes.push({ method, url: route.url, contract: route.config?.contract });
    }
  });
  return routes;
}

/** The routes `collectRoutes` saw on `app`, documented or not. */
export const registeredRoutes = (app: FastifyInstance): readonly RegisteredRoute[] => registered.get(app) ?? [];

/** `/api/task/:id` → `/api/task/{id}`. */
const documentedPath = (url: string) => url.replace(/:(\w+)/g, "{$1}");

const V1 = /^\/api\/v1(\/|$)/;

type Json = Record<string, unknown>;
const ref = (id: string) => ({ $ref: `#/components/schemas/${id}` });

/** A named contract schema by reference; a union of named ones as `anyOf`; anything else inline. */
function schemaRef(schema: z.ZodType): Json {
  const id = contractSchemas.get(schema)?.id;
  if (id) return ref(id);
  if (schema instanceof z.ZodUnion) return { anyOf: (schema.options as z.ZodType[]).map(schemaRef) };
  return jsonSchemaOf(schema, "output");
}

/** Every code answered with `status`, for the answer's description. */
const codesOf = (status: number) =>
  Object.entries(ERROR_CODES)
    .filter(([, code]) => code === status)
    .map(([name]) => name);

/** The answers every route of its kind can give, unless its contract says more. */
function commonAnswers(route: RouteContract): RouteContract["responses"] {
  const answers: RouteContract["responses"] = {};
  if (route.params || route.query || route.body) answers[400] = "the input is not valid: the message names the field";
  if (route.body) {
    answers[413] = "the body is over 1 MiB";
    answers[415] = "the body is not application/json";
  }
  if ((route.access ?? "key") === "key") {
    answers[401] = {
      description: "no API key, or an unknown or revoked one (only when ADMIN_API_KEY is set)",
      headers: ["WWW-Authenticate"],
    };
    answers[429] = { description: "the rate limit (RATE_LIMIT_PER_MINUTE) is reached", headers: ["Retry-After"] };
  }
  answers[500] = "a bug: a generic message, the details are logged";
  answers[503] = "Postgres or Redis is unavailable, or the server is shutting down";
  return answers;
}

function responsesOf(route: RouteContract): Json {
  const written = { ...commonAnswers(route), ...route.responses };
  const responses: Json = {};
  for (const [statusText, value] of Object.entries(written)) {
    const status = Number(statusText);
    const answer = answerOf(value);
    const isError = status >= 400;
    const schema = answer.schema ?? (isError ? answerOf("").schema : undefined);
    const codes = isError ? codesOf(status) : [];
    const description =
      (answer.description || (isError ? "error" : "OK")) + (codes.length ? ` (${codes.join(", ")})` : "");
    const content: Json = {};
    if (schema) content["application/json"] = { schema: schemaRef(schema) };
    for (const [mediaType, typed] of Object.entries(answer.content ?? {})) {
      content[mediaType] = { schema: typed ? schemaRef(typed) : { type: "string" } };
    }
    responses[statusText] = {
      description,
      ...(answer.headers?.length
        ? { headers: Object.fromEntries(answer.headers.map((name) => [name, RESPONSE_HEADERS[name]])) }
        : {}),
      ...(Object.keys(content).length ? { content } : {}),
    };
  }
  return responses;
}

/**
 * Path, query and header parameters: the first from the URL, typed by the params schema's output
 * (an id is the integer the route reads, not the digits the URL spells it with: OpenAPI serializes
 * a path parameter's value into the URL itself).
 */
function parametersOf(url: string, route: RouteContract): Json[] {
  const parameters: Json[] = [];
  const params = route.params ? jsonSchemaOf(route.params, "output") : {};
  const paramProperties = (params.properties ?? {}) as Record<string, Json>;
  for (const [, name] of url.matchAll(/:(\w+)/g)) {
    parameters.push({ name, in: "path", required: true, schema: paramProperties[name!] ?? { type: "string" } });
  }
  if (route.query) {
    const query = jsonSchemaOf(route.query, "input");
    const required = new Set((query.required ?? []) as string[]);
    for (const [name, schema] of Object.entries((query.properties ?? {}) as Record<string, Json>)) {
      const { description, ...rest } = schema;
      parameters.push({
        name,
        in: "query",
        required: required.has(name),
        schema: rest,
        ...(description ? { description } : {}),
      });
    }
  }
  for (const name of route.headers ?? []) {
    const { description, schema, ...more } = REQUEST_HEADERS[name];
    parameters.push({ name, in: "header", description, required: "required" in more && more.required, schema });
  }
  return parameters;
}

function operationOf(url: string, route: RouteContract): Json {
  const parameters = parametersOf(url, route);
  return {
    operationId: route.id,
    tags: [route.tag],
    summary: route.summary,
    ...(route.description ? { description: route.description } : {}),
    // Routes that need no key say so; the others take the document's security.
    ...((route.access ?? "key") === "key" ? {} : { security: [] }),
    ...(parameters.length ? { parameters } : {}),
    ...(route.body
      ? {
          requestBody: {
            required: true,
            content: { "application/json": { schema: jsonSchemaOf(route.body, "input") } },
          },
        }
      : {}),
    responses: responsesOf(route),
  };
}

/**
 * `/api/v1` is the versioned name of `/api`: its operations are listed under their own paths (as
 * Prism, the validating proxy, routes requests by `paths` alone and ignores a server's base path),
 * with their own ids and a tag of their own, so that a generated client keeps them apart.
 */
function aliasOperationOf(operation: Json): Json {
  return {
    ...operation,
    operationId: `${operation.operationId}V1`,
    tags: ["v1"],
    summary: `${operation.summary} (/api/v1)`,
  };
}

/** Fastify answers HEAD wherever it answers GET: GET's answers, headers only. */
function headOperationOf(get: Json): Json {
  const { description: _, ...operation } = get;
  const responses = Object.entries(get.responses as Record<string, Json>).map(([status, answer]) => {
    const { content: __, ...headersOnly } = answer;
    return [status, headersOnly];
  });
  return {
    ...operation,
    operationId: `${get.operationId}Head`,
    summary: `${get.summary}: its headers only (HEAD)`,
    responses: Object.fromEntries(responses),
  };
}

/**
 * `additionalProperties: {}` (zod's loose objects) says what its absence says: anything else is
 * allowed. Left out, it no longer has swagger-ui invent `additionalProp1..3` in every example.
 */
function withoutEmptyAdditionalProperties(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(withoutEmptyAdditionalProperties);
  if (typeof node !== "object" || node === null) return node;
  const entries = Object.entries(node).filter(
    ([key, value]) =>
      !(key === "additionalProperties" && typeof value === "object" && value && Object.keys(value).length === 0),
  );
  return Object.fromEntries(entries.map(([key, value]) => [key, withoutEmptyAdditionalProperties(value)]));
}

const DESCRIPTION = `Runs AI prompts on OpenAI or Mistral asynchronously: submit a task, then poll it, wait for it,
or follow its events. Every \`/api/...\` path is also served under \`/api/v1/...\`, the versioned
name of the same contract, listed under the tag \`v1\`. Every GET also answers HEAD; a method a path
does not list answers 405 with \`Allow\`. With \`ADMIN_API_KEY\` set, every API route
except the Stripe webhook needs a key (\`Authorization: Bearer <key>\` or \`X-API-Key\`); without
it the API runs open. Errors are \`{"error", "code", "request_id"}\`: docs/errors.md lists every code.`;

const TAGS = {
  Tasks: "Submit tasks, follow them, cancel them, list them",
  Reports: "Income, expenses, usage and the ledger",
  Credit: "Prepaid credit: balances and grants",
  Users: "The users that keys, tasks and credit belong to (an admin's)",
  Payments: "Stripe Checkout sessions for a subscription or for credit",
  Keys: "API keys (an admin's)",
  Webhooks: "Called by Stripe, not by clients",
  Service: "Health, metrics and this document",
  v1: "The same operations under /api/v1, the versioned name of /api",
} satisfies Record<RouteContract["tag"] | "v1", string>;

/** The OpenAPI 3.1 document of the documented routes among `routes`. */
export function buildOpenApiDocument(routes: readonly RegisteredRoute[]): Json {
  const paths: Record<string, Json> = {};
  const heads = new Set(routes.filter((route) => route.method === "HEAD").map((route) => route.url));
  for (const route of routes) {
    if (!route.contract || route.method === "HEAD") continue;
    const path = documentedPath(route.url);
    paths[path] ??= {};
    const written = operationOf(route.url, route.contract);
    const operation = V1.test(route.url) ? aliasOperationOf(written) : written;
    paths[path][route.method.toLowerCase()] = operation;
    if (route.method === "GET" && heads.has(route.url)) paths[path].head = headOperationOf(operation);
  }
  const { schemas } = z.toJSONSchema(contractSchemas, {
    target: "draft-2020-12",
    io: "output",
    uri: (id) => `#/components/schemas/${id}`,
  });
  return withoutEmptyAdditionalProperties({
    openapi: "3.1.1",
    info: { title: "AI task service", version: "1", description: DESCRIPTION },
    // Relative: the origin the document is served from.
    servers: [{ url: "/", description: "this service" }],
    security: [{ bearerAuth: [] }, { apiKeyHeader: [] }],
    tags: Object.entries(TAGS).map(([name, description]) => ({ name, description })),
    paths,
    components: {
      schemas: tidySchema(schemas),
      securitySchemes: {
        bearerAuth: { type: "http", scheme: "bearer", description: "An API key (needed when ADMIN_API_KEY is set)." },
        apiKeyHeader: { type: "apiKey", in: "header", name: "X-API-Key", description: "The same key, in X-API-Key." },
      },
    },
  }) as Json;
}
