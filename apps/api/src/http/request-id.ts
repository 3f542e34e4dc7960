import { randomFillSync } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { FastifyInstance } from "fastify";

// What proxies and tracers send (UUIDs, W3C trace ids, `Root=1-...` of AWS): letters, digits and a
// few separators, bounded so that one id cannot bloat every log line of its request.
const WELL_FORMED = /^[A-Za-z0-9][A-Za-z0-9._:=+/-]{0,127}$/;

/**
 * The request's id for logs and error answers: the client's `X-Request-Id` when it is well-formed,
 * else a random one. Random, not a counter: ids of two API processes never collide in merged logs.
 */
export function requestIdOf(request: IncomingMessage): string {
  const given = request.headers["x-request-id"];
  if (typeof given === "string" && WELL_FORMED.test(given)) return given;
  return newRequestId();
}

/** A fresh id of ours, for answers to requests that never became a Fastify request. */
export const newRequestId = () => `req-${randomHex8()}`;

// Random bytes drawn 4 KiB at a time: one system call per 512 requests rather than one each (it
// was 3% of the API's CPU on `POST /api/task`).
const pool = Buffer.alloc(4096);
let used = pool.length;
function randomHex8(): string {
  if (used === pool.length) {
    randomFillSync(pool);
    used = 0;
  }
  used += 8;
  return pool.toString("hex", used - 8, used);
}

/**
 * Every answer carries its request's id as `x-request-id` (errors, 404s, pages, streams alike), so
 * a client can quote it. Set when the request arrives: later hooks and handlers only add headers.
 */
export function useRequestIdHeader(app: FastifyInstance) {
  app.addHook("onRequest", (request, reply, done) => {
    reply.header("x-request-id", request.id);
    done();
  });
}
