import type { FastifyRequest } from "fastify";

/**
 * Whether a request that changes something comes from our own pages, by the browser's own word:
 * `Origin` (sent with every non-GET fetch and form post) naming our host, and `Sec-Fetch-Site`
 * when present. A request with neither is from no browser (curl, a test) and still needs the
 * session cookie and, for the dashboard's forms, their token.
 */
export function isSameOrigin(request: FastifyRequest): boolean {
  const site = request.headers["sec-fetch-site"];
  if (site !== undefined && site !== "same-origin") return false;
  const origin = request.headers.origin;
  if (origin === undefined) return true;
  try {
    return new URL(origin).host.toLowerCase() === (request.headers.host ?? "").toLowerCase();
  } catch {
    // "null" (a sandboxed frame, a redirect across origins) or garbage.
    return false;
  }
}
