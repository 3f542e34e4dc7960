import { Ajv2020 } from "ajv/dist/2020.js";
import addFormats from "ajv-formats";

/** One request and its answer, as a client saw them. */
export interface Exchange {
  method: string;
  /** The path and query, as sent (`/api/v1/task/7?wait=1`). */
  url: string;
  requestHeaders?: Record<string, string>;
  /** The JSON body sent, as a value; undefined: none. */
  requestBody?: unknown;
  status: number;
  responseHeaders: Record<string, string | string[] | number | undefined>;
  responseBody: string;
}

type Json = Record<string, unknown>;
interface Parameter {
  name: string;
  in: string;
  required?: boolean;
  schema: Json;
}
interface Operation {
  parameters?: Parameter[];
  requestBody?: { required?: boolean; content: Record<string, unknown> };
  responses: Record<string, { content?: Record<string, unknown>; headers?: Record<string, unknown> }>;
}

const METHODS = ["get", "head", "post", "put", "patch", "delete", "options", "trace"];
const DOCUMENT_ID = "https://aitasks.test/openapi.json";
/** JSON Pointer escaping (RFC 6901). */
const pointer = (...parts: string[]) => parts.map((part) => part.replaceAll("~", "~0").replaceAll("/", "~1")).join("/");
const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
const mediaTypeOf = (value: unknown) =>
  String(value ?? "")
    .split(";")[0]
    ?.trim() ?? "";

/**
 * Judges a session's requests and answers by an OpenAPI 3.1 document, as a validating proxy in
 * front of the service would (Prism's `--errors`): the operation from the server and path the URL
 * matches, its parameters and body, then the answer's status, media type and body. Schemas are
 * checked with Ajv (JSON Schema 2020-12, OpenAPI 3.1's dialect) against the document's components.
 */
export function createDocumentChecker(document: Json) {
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats.default(ajv);
  ajv.addSchema(document, DOCUMENT_ID);
  const validate = (at: string, value: unknown): string[] => {
    const check = ajv.getSchema(`${DOCUMENT_ID}#/${at}`);
    if (!check) return [`no schema at ${at}`];
    return check(value) ? [] : [`${at}: ${JSON.stringify(check.errors)}`];
  };

  const topServers = (document.servers as { url: string }[] | undefined) ?? [{ url: "/" }];
  const paths = document.paths as Record<string, Json>;
  /** Every concrete URL pattern of the document: a server's URL and a path. */
  const routes = Object.entries(paths).flatMap(([path, item]) =>
    ((item.servers as { url: string }[] | undefined) ?? topServers).map((server) => {
      const names: string[] = [];
      const source = `${server.url.replace(/\/$/, "")}${path}`
        .split(/(\{\w+\})/)
        .map((part) => {
          const name = /^\{(\w+)\}$/.exec(part)?.[1];
          if (!name) return escapeRegExp(part);
          names.push(name);
          return "([^/]+)";
        })
        .join("");
      return { path, item, names, pattern: new RegExp(`^${source}$`) };
    }),
  );

  /** The documented path and its path parameters for a URL's path; undefined: the document has none. */
  function matchPath(pathname: string) {
    for (const route of routes) {
      const match = route.pattern.exec(pathname);
      if (!match) continue;
      const params = Object.fromEntries(route.names.map((name, i) => [name, decodeURIComponent(match[i + 1]!)]));
      return { path: route.path, item: route.item, params };
    }
    return undefined;
  }

  /** The methods the document gives a path item, as an `Allow` header lists them. */
  const methodsOf = (item: Json) =>
    METHODS.filter((method) => method in item)
      .map((method) => method.toUpperCase())
      .sort();

  /** A parameter's text as the value its schema describes (style `simple`/`form`, no arrays here). */
  function deserialize(text: string, schema: Json): unknown {
    const types = [schema.type].flat();
    if ((types.includes("integer") || types.includes("number")) && /^-?\d+(\.\d+)?$/.test(text)) return Number(text);
    if (types.includes("boolean") && (text === "true" || text === "false")) return text === "true";
    return text;
  }

  /**
   * An error answer's schema must be exact, not merely permissive: it refuses a field it does not
   * list, a code outside the codes, and an answer without `code` or `request_id`.
   */
  function errorExactnessProblems(at: string, answer: Json): string[] {
    const { code: _, ...withoutCode } = answer;
    const { request_id: __, ...withoutRequestId } = answer;
    const variants: [string, unknown][] = [
      ["an unlisted field", { ...answer, undocumented_field: 1 }],
      ["an unknown code", { ...answer, code: "NOT_A_CODE" }],
      ["no code", withoutCode],
      ["no request_id", withoutRequestId],
    ];
    return variants
      .filter(([, variant]) => validate(at, variant).length === 0)
      .map(([what]) => `the error schema at ${at} accepts an answer with ${what}`);
  }

  function locate(exchange: Exchange) {
    const url = new URL(exchange.url, "http://service.test");
    const found = matchPath(url.pathname);
    const method = exchange.method.toLowerCase();
    const operation = found?.item[method] as Operation | undefined;
    return { url, found, method, operation };
  }

  return {
    /** What the document says is wrong with the request ([] for a request it describes as valid). */
    requestProblems(exchange: Exchange): string[] {
      const { url, found, method, operation } = locate(exchange);
      if (!found) return [`no documented path matches ${url.pathname}`];
      if (!operation) return [`${exchange.method} is not documented at ${found.path}`];
      const problems: string[] = [];
      const headers = Object.fromEntries(
        Object.entries(exchange.requestHeaders ?? {}).map(([name, value]) => [name.toLowerCase(), value]),
      );
      for (const [index, parameter] of (operation.parameters ?? []).entries()) {
        const text =
          parameter.in === "path"
            ? found.params[parameter.name]
            : parameter.in === "query"
              ? (url.searchParams.get(parameter.name) ?? undefined)
              : parameter.in === "header"
                ? headers[parameter.name.toLowerCase()]
                : undefined;
        if (text === undefined) {
          if (parameter.required) problems.push(`the ${parameter.in} parameter ${parameter.name} is required`);
          continue;
        }
        const at = pointer("paths", found.path, method, "parameters", String(index), "schema");
        problems.push(...validate(at, deserialize(text, parameter.schema)));
      }
      const sentType = mediaTypeOf(headers["content-type"]);
      if (sentType && operation.requestBody && !(sentType in operation.requestBody.content)) {
        problems.push(`a body of ${sentType}, the document: ${Object.keys(operation.requestBody.content).join(", ")}`);
      } else if (exchange.requestBody === undefined) {
        if (operation.requestBody?.required) problems.push("a body is required");
      } else if (!operation.requestBody) {
        problems.push("the operation takes no body");
      } else {
        const at = pointer("paths", found.path, method, "requestBody", "content", "application/json", "schema");
        problems.push(...validate(at, exchange.requestBody));
      }
      return problems;
    },

    /** What the document says is wrong with the answer ([] for one it describes). */
    answerProblems(exchange: Exchange): string[] {
      const { url, found, method, operation } = locate(exchange);
      const body = exchange.responseBody;
      const type = mediaTypeOf(exchange.responseHeaders["content-type"]);
      if (!found) {
        // A path the document does not have: only our 404, in the document's error shape.
        if (exchange.status !== 404) return [`${exchange.status} for the undocumented ${url.pathname}`];
        return validate(pointer("components", "schemas", "Error"), JSON.parse(body));
      }
      if (!operation) {
        // A documented path, another method: 405 naming the methods the document gives it.
        const problems: string[] = [];
        if (exchange.status !== 405) problems.push(`${exchange.status} where 405 is due`);
        const allow = String(exchange.responseHeaders.allow ?? "");
        const allowed = allow
          .split(",")
          .map((name) => name.trim())
          .filter(Boolean)
          .sort();
        if (JSON.stringify(allowed) !== JSON.stringify(methodsOf(found.item))) {
          problems.push(`Allow: ${allow}, the document: ${methodsOf(found.item).join(", ")}`);
        }
        if (exchange.method !== "HEAD") {
          problems.push(...validate(pointer("components", "schemas", "Error"), JSON.parse(body)));
        }
        return problems;
      }
      const status = String(exchange.status);
      const answer =
        operation.responses[status] ?? operation.responses[`${status[0]}XX`] ?? operation.responses.default;
      if (!answer) return [`${exchange.status} is not documented for ${exchange.method} ${found.path}`];
      const documentedStatus = operation.responses[status] ? status : `${status[0]}XX`;
      if (exchange.method === "HEAD" || exchange.status === 204 || exchange.status === 304) {
        return body === "" ? [] : [`a ${exchange.status} answer to ${exchange.method} has a body`];
      }
      if (!answer.content) return body === "" ? [] : [`${exchange.status} documents no body, got ${type}`];
      const media = Object.keys(answer.content).find((documented) => documented === type);
      if (!media)
        return [`${exchange.status} answered ${type}, the document: ${Object.keys(answer.content).join(", ")}`];
      if (media !== "application/json") return [];
      const at = pointer("paths", found.path, method, "responses", documentedStatus, "content", media, "schema");
      const value: unknown = JSON.parse(body);
      const problems = validate(at, value);
      if (problems.length === 0 && exchange.status >= 400) problems.push(...errorExactnessProblems(at, value as Json));
      return problems;
    },

    /**
     * Whether `value`, as a client holds it (the integer `task_id` of an answer), is a value of the
     * parameter `name` of the operation `exchange` reaches: what a generated client's types demand.
     */
    parameterProblems(exchange: Pick<Exchange, "method" | "url">, name: string, value: unknown): string[] {
      const { found, method, operation } = locate({ ...exchange, status: 0, responseHeaders: {}, responseBody: "" });
      const index = operation?.parameters?.findIndex((parameter) => parameter.name === name) ?? -1;
      if (!found || index < 0) return [`no parameter ${name} for ${exchange.method} ${exchange.url}`];
      return validate(pointer("paths", found.path, method, "parameters", String(index), "schema"), value);
    },

    /** The documented path and operation a request reaches, for a tally of what a session covered. */
    operationOf(exchange: Pick<Exchange, "method" | "url">): string | undefined {
      const { found, method, operation } = locate({ ...exchange, status: 0, responseHeaders: {}, responseBody: "" });
      return found && operation ? `${method.toUpperCase()} ${found.path}` : undefined;
    },

    /** Every operation of the document, `METHOD /path`. */
    operations(): string[] {
      return Object.entries(paths).flatMap(([path, item]) =>
        METHODS.filter((method) => method in item).map((method) => `${method.toUpperCase()} ${path}`),
      );
    },
  };
}
export type DocumentChecker = ReturnType<typeof createDocumentChecker>;
