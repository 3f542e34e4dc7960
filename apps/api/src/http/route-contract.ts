import { ErrorAnswer } from "@aitasks/contract";
import { z } from "zod";

/**
 * What a route takes and answers, declared beside its registration; `GET /openapi.json` is built
 * from these, and Fastify's serializer (fast-json-stringify) writes the route's JSON answers with
 * the response schemas. Requests are still validated by `parseInput` with the same zod schemas
 * named here: Fastify is never given a request schema, so ajv plays no part.
 *
 * Adding a route's contract is one argument:
 * ```ts
 * app.get("/task/:id/events", contract({
 *   id: "streamTaskEvents", tag: "Tasks", summary: "Follow a task (Server-Sent Events)",
 *   params: TaskIdParams, headers: ["Last-Event-ID"],
 *   responses: { 200: { content: "text/event-stream", description: "..." }, 404: "no such task" },
 * }), handler);
 * ```
 * A route registered without one fails the coverage test in routes/docs/openapi.test.ts.
 */
export interface RouteContract {
  /** The OpenAPI operationId, a verb: what a generated client names the call. Unique. */
  id: string;
  tag: "Tasks" | "Reports" | "Credit" | "Users" | "Payments" | "Keys" | "Webhooks" | "Service";
  summary: string;
  description?: string;
  /**
   * Who may call it: with an API key when keys are on (`key`, the default: 401 and 429 are then
   * documented for it), anyone (`public`), or Stripe, proving it with its signature (`stripe`).
   */
  access?: "key" | "public" | "stripe";
  params?: z.ZodType;
  query?: z.ZodType;
  body?: z.ZodType;
  /** Request headers that change what the route does. */
  headers?: readonly RequestHeaderName[];
  /**
   * Every answer by status. A zod schema: a JSON answer of that shape (a 2xx one is also what the
   * serializer writes). A string: an error answer (`Error`), for that reason. An object: another
   * media type, response headers, or a JSON answer the route streams itself.
   */
  responses: Record<number, z.ZodType | string | Answer>;
}

export interface Answer {
  description?: string;
  /** A JSON answer's schema; for a 2xx, handed to the serializer unless `streamed`. */
  schema?: z.ZodType;
  /** Other media types the answer may come as, with the schema of each (a string when omitted). */
  content?: Record<string, z.ZodType | undefined>;
  headers?: readonly ResponseHeaderName[];
  /** The route sends this answer already written (a stream, or text it built): the serializer never sees it. */
  streamed?: boolean;
}

/** Request headers a contract may name, documented once. */
export const REQUEST_HEADERS = {
  "Idempotency-Key": {
    description:
      'Makes a retry safe: the same request with the same key gets the first answer (Idempotent-Replayed: true) and creates nothing; another body with it is 422, while the first runs 409. 1 to 255 printable ASCII characters, quoted ("abc") or bare.',
    schema: { type: "string", minLength: 1, maxLength: 257 },
  },
  Prefer: {
    description:
      "`wait=N` (RFC 7240): wait up to N seconds (at most 60) for the task to end, as `?wait=N` (which wins); answered with Preference-Applied.",
    schema: { type: "string", examples: ["wait=30"] },
  },
  "Stripe-Signature": {
    description: "Stripe's signature of the raw body, checked with STRIPE_WEBHOOK_SECRET (at most 5 minutes old).",
    schema: { type: "string" },
    required: true,
  },
  Accept: {
    description: "`text/csv` ranked above `application/json` answers CSV (`?format` wins over it).",
    schema: { type: "string", examples: ["text/csv"] },
  },
  "Last-Event-ID": {
    description: "Resumes a stream after the event with this id.",
    schema: { type: "string" },
  },
} as const satisfies Record<string, { description: string; schema: object; required?: boolean }>;
export type RequestHeaderName = keyof typeof REQUEST_HEADERS;

/** Response headers an answer may name, documented once. */
export const RESPONSE_HEADERS = {
  Location: { description: "The task's URL: `/api/task/{id}`.", schema: { type: "string" } },
  "Retry-After": { description: "Seconds after which asking again is worth it.", schema: { type: "integer" } },
  "Preference-Applied": { description: "The wait applied, from `Prefer: wait=N`.", schema: { type: "string" } },
  "Idempotent-Replayed": {
    description: "`true` on an answer replayed for a repeated Idempotency-Key.",
    schema: { type: "string", enum: ["true"] },
  },
  "WWW-Authenticate": { description: 'The scheme to use: `Bearer realm="api"`.', schema: { type: "string" } },
  "Content-Disposition": {
    description: 'The CSV\'s file name: `attachment; filename="ledger-<from>-<to>.csv"`.',
    schema: { type: "string" },
  },
} as const satisfies Record<string, { description: string; schema: object }>;
export type ResponseHeaderName = keyof typeof RESPONSE_HEADERS;

declare module "fastify" {
  interface FastifyContextConfig {
    contract?: RouteContract;
  }
}

const MAX_SAFE = Number.MAX_SAFE_INTEGER;
type JsonSchema = { [key: string]: unknown };

/**
 * zod's JSON Schema made plainer, for readers and for fast-json-stringify alike: a nullable simple
 * schema as `type: [X, "null"]` rather than an `anyOf` (which fast-json-stringify serializes by
 * trying each branch), no `$schema`/`$id` inside a document, no pattern restating a `format`, no
 * integer bounds that only restate JavaScript's safe range.
 */
export function tidySchema(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(tidySchema);
  if (typeof node !== "object" || node === null) return node;
  const schema: JsonSchema = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === "$schema" || key === "$id") continue;
    schema[key] = tidySchema(value);
  }
  const anyOf = schema.anyOf;
  if (Array.isArray(anyOf) && anyOf.length === 2) {
    const nullAt = anyOf.findIndex((branch: JsonSchema) => branch.type === "null" && Object.keys(branch).length === 1);
    const other = anyOf[1 - nullAt] as JsonSchema | undefined;
    if (nullAt !== -1 && other && typeof other.type === "string" && !("anyOf" in other)) {
      delete schema.anyOf;
      Object.assign(schema, { ...other, ...schema, type: [other.type, "null"] });
      // null must pass the value's own constraints too.
      if (Array.isArray(other.enum)) schema.enum = [...other.enum, null];
      if ("const" in other) {
        delete schema.const;
        schema.enum = [other.const, null];
      }
    }
  }
  if (typeof schema.format === "string" && ["date-time", "date"].includes(schema.format)) delete schema.pattern;
  if (schema.type === "integer" && schema.minimum === -MAX_SAFE) delete schema.minimum;
  if (schema.type === "integer" && schema.maximum === MAX_SAFE) delete schema.maximum;
  return schema;
}

/** A JSON Schema (2020-12, OpenAPI 3.1's dialect) of what a schema accepts (`input`) or yields (`output`). */
export function jsonSchemaOf(schema: z.ZodType, io: "input" | "output"): JsonSchema {
  const converted = z.toJSONSchema(schema, {
    target: "draft-2020-12",
    io,
    // A refinement or transform of a request schema has no JSON Schema; what it checks is in the
    // error message. An answer's schema must be representable whole: it drives the serializer.
    unrepresentable: io === "input" ? "any" : "throw",
  });
  return tidySchema(converted) as JsonSchema;
}

/** The answer as an `Answer`, whichever way the contract wrote it. */
export function answerOf(answer: z.ZodType | string | Answer): Answer {
  if (typeof answer === "string") return { description: answer, schema: ErrorAnswer };
  if (answer instanceof z.ZodType) return { schema: answer };
  return answer;
}

/**
 * The route options that carry a contract: the contract itself (read back by the OpenAPI
 * collector) and the JSON Schemas of its 2xx JSON answers, which Fastify compiles into serializers.
 * Error answers keep Fastify's plain JSON.stringify: they are rare, and their extra fields vary.
 */
export function contract(route: RouteContract) {
  const response: Record<number, JsonSchema> = {};
  for (const [status, written] of Object.entries(route.responses)) {
    const answer = answerOf(written);
    if (Number(status) < 300 && answer.schema && !answer.streamed) {
      response[Number(status)] = jsonSchemaOf(answer.schema, "output");
    }
  }
  return { schema: { response }, config: { contract: route } };
}
