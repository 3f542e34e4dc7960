import type { FastifyRequest } from "fastify";

// Names a browser treats as a secure context even over plain HTTP: localhost and its subdomains,
// 127.0.0.0/8 and ::1 (https://w3c.github.io/webappsec-secure-contexts/#is-origin-trustworthy).
const LOOPBACK = /^(localhost|.+\.localhost|127(\.\d{1,3}){3}|\[::1\])\.?$/i;

const schemeOf = (value: string | undefined) => value?.split(",")[0]?.trim().toLowerCase();

function hostnameOf(authority: string): string | undefined {
  try {
    return new URL(`http://${authority}`).hostname;
  } catch {
    return undefined;
  }
}

/**
 * Whether the browser reached the dashboard over plain HTTP at a name other than loopback, where
 * it drops the session cookie: a `__Host-` cookie must be Secure, and a browser keeps a Secure
 * cookie only in a secure context. The browser's own word first: the scheme of `Origin`, which it
 * sends with every form post. Else the scheme the request came by: TLS here, or a proxy's
 * `X-Forwarded-Proto` (read even when the proxy is not trusted: it only decides whether a notice
 * shows).
 */
export function dropsSecureCookies(request: FastifyRequest): boolean {
  const origin = request.headers.origin;
  if (origin && origin !== "null") {
    try {
      const url = new URL(origin);
      return url.protocol === "http:" && !LOOPBACK.test(url.hostname);
    } catch {
      // Not a URL: judge by the request itself.
    }
  }
  const forwarded = schemeOf(request.headers["x-forwarded-proto"] as string | undefined);
  const proto = /(?:^|[;,\s])proto=(?:"?)(https?)/i.exec(request.headers.forwarded ?? "")?.[1]?.toLowerCase();
  if (request.protocol === "https" || forwarded === "https" || proto === "https") return false;
  const hostname = hostnameOf(request.headers.host ?? "");
  return hostname !== undefined && hostname !== "" && !LOOPBACK.test(hostname);
}
