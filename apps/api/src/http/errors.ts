import { AppError, type ErrorCode } from "@aitasks/errors";
import type { FastifyError, FastifyReply, FastifyRequest } from "fastify";

const statusOf: Record<ErrorCode, number> = {
  VALIDATION: 400,
  NOT_FOUND: 404,
  CONFLICT: 409,
  UPSTREAM: 502,
  UNAVAILABLE: 503,
  NOT_CONFIGURED: 503,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  RATE_LIMITED: 429,
};

// Errors that mean Postgres or Redis cannot be reached, from the drivers or the OS.
const CONNECTION_ERROR_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENOTFOUND",
  "EPIPE",
  "CONNECT_TIMEOUT",
  "CONNECTION_CLOSED",
  "CONNECTION_ENDED",
  "CONNECTION_DESTROYED",
]);

/** Walks the cause chain: drizzle wraps driver errors in its own. */
function isDependencyDown(error: unknown): boolean {
  for (let current = error, depth = 0; current && depth < 5; current = (current as Error).cause, depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code !== "string") continue;
    // SQLSTATE class 08 (connection), 57P0x (server shutting down), 53300 (too many connections).
    if (CONNECTION_ERROR_CODES.has(code) || code.startsWith("08") || code.startsWith("57P0") || code === "53300") {
      return true;
    }
  }
  const message = (error as Error | undefined)?.message ?? "";
  return /Connection is closed|enableOfflineQueue|Stream isn't writeable/.test(message);
}

/**
 * The one place errors become HTTP answers: `{"error", "code", "request_id"}`. Known errors keep
 * their message; anything else is logged with its cause and answered with a generic message.
 */
export function handleError(error: FastifyError, request: FastifyRequest, reply: FastifyReply) {
  let status: number;
  let code: string;
  let message: string;
  if (error instanceof AppError) {
    status = statusOf[error.code];
    code = error.code;
    message = error.message;
  } else if (isDependencyDown(error)) {
    request.log.warn({ err: error }, "dependency unavailable");
    status = 503;
    code = "UNAVAILABLE";
    message = "a service this request needs (database or queue) is unavailable; try again shortly";
  } else if (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500) {
    // Fastify's own refusals: malformed JSON, body too large, unsupported media type.
    status = error.statusCode;
    code = error.code ?? "BAD_REQUEST";
    message = error.message;
  } else {
    request.log.error({ err: error }, "unhandled error");
    status = 500;
    code = "INTERNAL";
    message = "internal error; it has been logged";
  }
  return reply.code(status).send({ error: message, code, request_id: request.id });
}

export function handleNotFound(request: FastifyRequest, reply: FastifyReply) {
  return reply.code(404).send({
    error: `no route for ${request.method} ${request.url.split("?")[0]}`,
    code: "NOT_FOUND",
    request_id: request.id,
  });
}
