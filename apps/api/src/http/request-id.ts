import { randomBytes } from "node:crypto";
import type { IncomingMessage } from "node:http";

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
  return `req-${randomBytes(8).toString("hex")}`;
}
