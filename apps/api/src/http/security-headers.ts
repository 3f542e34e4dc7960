import type { IncomingMessage, ServerResponse } from "node:http";
import type { FastifyInstance } from "fastify";
import helmet from "helmet";

/**
 * helmet's default headers, computed once at start-up. They depend on nothing in the request, but
 * `@fastify/helmet` runs helmet's whole middleware chain for every request, a measurable share of
 * a task submission's CPU (docs/performance.md).
 */
function helmetDefaults(): Record<string, string> {
  const headers: Record<string, string> = {};
  const response = {
    setHeader: (name: string, value: string | number | readonly string[]) => {
      headers[name.toLowerCase()] = String(value);
    },
    removeHeader: (name: string) => {
      delete headers[name.toLowerCase()];
    },
  };
  helmet()({} as IncomingMessage, response as unknown as ServerResponse, (error?: unknown) => {
    if (error) throw error;
  });
  return headers;
}

/** Every answer, errors and 404s included, carries the security headers. */
export function useSecurityHeaders(app: FastifyInstance) {
  const headers = helmetDefaults();
  app.addHook("onRequest", (_request, reply, done) => {
    reply.headers(headers);
    done();
  });
}
