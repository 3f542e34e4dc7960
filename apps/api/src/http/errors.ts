import { STATUS_CODES } from "node:http";
import type { Socket } from "node:net";
import { type ApiErrorCode, ERROR_CODES } from "@aitasks/contract";
import { amountToNumber, errorCodesOf, isConnectionLostCode } from "@aitasks/db";
import { AppError, type ErrorCode, InsufficientCreditError, KeyBudgetExceededError } from "@aitasks/errors";
import type { ConnectionError, FastifyError, FastifyReply, FastifyRequest } from "fastify";
import { newRequestId } from "./request-id.js";

// The one table of codes and statuses is the contract's (packages/contract/src/errors.ts): the
// OpenAPI document lists its codes. Every code of the domain's errors must have a status there.
ERROR_CODES satisfies Record<ErrorCode, number>;

export { type ApiErrorCode, ERROR_CODES };

/**
 * Fastify's own refusals under our codes, with messages a client can act on: its `FST_ERR_*`
 * codes are internals that a framework upgrade may rename.
 */
const FRAMEWORK_ERRORS: Record<string, { code: ApiErrorCode; message: string }> = {
  FST_ERR_CTP_BODY_TOO_LARGE: { code: "BODY_TOO_LARGE", message: "request body is too large (at most 1 MiB)" },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: {
    code: "UNSUPPORTED_MEDIA_TYPE",
    message: "unsupported content type: send the body as application/json",
  },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: {
    code: "VALIDATION",
    message: "request body size did not match its Content-Length header",
  },
  FST_ERR_CTP_EMPTY_JSON_BODY: {
    code: "INVALID_JSON",
    message: "body is empty but its content type is application/json",
  },
  FST_ERR_CTP_INVALID_JSON_BODY: { code: "INVALID_JSON", message: "body is not valid JSON" },
  FST_ERR_BAD_URL: { code: "VALIDATION", message: "the request URL cannot be decoded" },
  FST_ERR_HANDLER_TIMEOUT: { code: "TIMEOUT", message: "the request took too long; try again shortly" },
};

/** Any other refusal of the framework, by its status. */
function frameworkCode(status: number): ApiErrorCode {
  if (status === 404) return "NOT_FOUND";
  if (status === 405) return "METHOD_NOT_ALLOWED";
  if (status === 413) return "BODY_TOO_LARGE";
  if (status === 415) return "UNSUPPORTED_MEDIA_TYPE";
  if (status === 429) return "RATE_LIMITED";
  return "VALIDATION";
}

/**
 * ioredis's own: a closed or unwritable connection, a command that timed out (`commandTimeout`: a
 * partition), retries spent, a cluster mid-failover or out of reach. Matched by text because ioredis
 * 5 gives no other handle: it rejects most of these with a plain `Error` without a code, its two
 * error classes (retries spent, slots cache) are not in its public exports, and it recognises a
 * closed connection by this same message itself.
 */
const REDIS_DOWN =
  /Connection is closed|enableOfflineQueue|Stream isn't writeable|Command timed out|max retries per request|Too many Cluster redirections|Failed to refresh slots cache|None of startup nodes is available|Cluster isn't ready/;

/** Whether Postgres or Redis cannot be reached, from the error or any of its causes. */
export function isDependencyDown(error: unknown): boolean {
  // SQLSTATE class 08 (connection), 57P0x (server shutting down), 53300 (too many connections),
  // 55P03 and 57014 (a lock or a statement that outlasted our session limits: someone else holds
  // what we need), 25P03 (our idle transaction was ended).
  const down = (code: string) =>
    isConnectionLostCode(code) ||
    code.startsWith("08") ||
    code.startsWith("57P0") ||
    ["53300", "55P03", "57014", "25P03"].includes(code);
  if (errorCodesOf(error).some(down)) return true;
  return REDIS_DOWN.test((error as Error | undefined)?.message ?? "");
}

/**
 * What an error means for the caller: its status, code and a message fit to show. Known errors
 * keep their message; anything else is logged with its cause and gets a generic message.
 */
export function describeError(error: FastifyError, request: FastifyRequest) {
  let status: number;
  let code: ApiErrorCode;
  let message: string;
  const framework = error.code ? FRAMEWORK_ERRORS[error.code] : undefined;
  if (error instanceof AppError) {
    status = ERROR_CODES[error.code];
    code = error.code;
    message = error.message;
  } else if (isDependencyDown(error)) {
    request.log.warn({ err: error }, "dependency unavailable");
    status = 503;
    code = "UNAVAILABLE";
    message = "a service this request needs (database or queue) is unavailable; try again shortly";
  } else if (framework) {
    status = ERROR_CODES[framework.code];
    code = framework.code;
    message = framework.message;
  } else if (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500) {
    // The JSON parser's own (a syntax error, a forbidden `__proto__` key) and any other refusal.
    status = error.statusCode;
    code = error instanceof SyntaxError ? "INVALID_JSON" : frameworkCode(status);
    message = error instanceof SyntaxError ? `body is not valid JSON: ${error.message}` : error.message;
  } else {
    request.log.error({ err: error }, "unhandled error");
    status = 500;
    code = "INTERNAL";
    message = "internal error; it has been logged";
  }
  return { status, code, message };
}

/** The one place errors become the API's answers: `{"error", "code", "request_id"}`. */
export function handleError(error: FastifyError, request: FastifyRequest, reply: FastifyReply) {
  const { status, code, message } = describeError(error, request);
  const extra =
    error instanceof InsufficientCreditError
      ? { available: amountToNumber(error.available), required: amountToNumber(error.required) }
      : error instanceof KeyBudgetExceededError
        ? {
            budget: amountToNumber(error.budget),
            spent: amountToNumber(error.spent),
            required: amountToNumber(error.required),
          }
        : error instanceof AppError
          ? error.details
          : {};
  return reply.code(status).send({ error: message, code, ...extra, request_id: request.id });
}

/**
 * 405 with `Allow` when the path is one a route serves with other methods (RFC 9110 §15.5.6);
 * undefined otherwise, for the caller's own 404.
 */
export function answerMethodNotAllowed(request: FastifyRequest, reply: FastifyReply): FastifyReply | undefined {
  const path = request.url.split("?")[0] ?? "";
  const allowed = request.server.allowedMethods?.(path);
  // A route may answer 404 itself (callNotFound): its own method is served, the thing is missing.
  if (!allowed || allowed.includes(request.method)) return undefined;
  return reply
    .code(405)
    .header("allow", allowed.join(", "))
    .send({
      error: `${request.method} is not served at ${path}; it serves ${allowed.join(", ")}`,
      code: "METHOD_NOT_ALLOWED",
      request_id: request.id,
    });
}

export function handleNotFound(request: FastifyRequest, reply: FastifyReply) {
  return (
    answerMethodNotAllowed(request, reply) ??
    reply.code(404).send({
      error: `no route for ${request.method} ${request.url.split("?")[0]}`,
      code: "NOT_FOUND",
      request_id: request.id,
    })
  );
}

/**
 * Requests that Node's HTTP parser refuses before Fastify sees them (malformed, headers too large,
 * too slow to arrive), answered in our shape too. A HEAD request gets no body: a body after a HEAD
 * answer would be read by the client as the start of the next answer.
 */
export function handleClientError(error: ConnectionError, socket: Socket) {
  if (error.code === "ECONNRESET" || socket.destroyed) return;
  // Bytes after a request that said `Connection: close` are no request of their own: that request's
  // answer, which closes the connection, is the last one the client may read.
  if (error.code === "HPE_CLOSED_CONNECTION") return;
  const [status, code, message]: [number, ApiErrorCode, string] =
    error.code === "ERR_HTTP_REQUEST_TIMEOUT"
      ? [408, "REQUEST_TIMEOUT", "the request took too long to arrive"]
      : error.code === "HPE_HEADER_OVERFLOW"
        ? [431, "HEADERS_TOO_LARGE", "the request's headers are too large"]
        : [400, "VALIDATION", "the request is not valid HTTP"];
  // Not a Fastify request, so no id yet: one of ours, in the header and the body as on every answer.
  const requestId = newRequestId();
  const body = JSON.stringify({ error: message, code, request_id: requestId });
  // A Buffer at run time, whatever Fastify's types say.
  const raw: unknown = error.rawPacket;
  const isHead = Buffer.isBuffer(raw) && raw.subarray(0, 5).toString("latin1") === "HEAD ";
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\nContent-Type: application/json; charset=utf-8\r\n` +
        `X-Request-Id: ${requestId}\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${isHead ? "" : body}`,
    );
  }
  socket.destroy();
}
