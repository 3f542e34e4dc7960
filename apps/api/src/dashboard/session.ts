import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import { closeDashboardSession, isDashboardSessionOpen, openDashboardSession, type Principal } from "@aitasks/auth";
import type { Database } from "@aitasks/db";
import type { FastifyReply, FastifyRequest } from "fastify";

/**
 * `__Host-`: the browser keeps it only if Secure, for this host alone and every path (the queue
 * board at /admin/queues needs it too). Browsers count http://localhost and 127.0.0.1 as secure.
 */
export const SESSION_COOKIE = "__Host-aitasks-session";

export interface DashboardSessions {
  /** Open mode (no ADMIN_API_KEY): nobody signs in, and the dashboard is open like the API. */
  open: boolean;
  /** The signed-in principal of this request, or undefined (no cookie, forged, expired, signed out). */
  principalOf(request: FastifyRequest): Promise<Principal | undefined>;
  /** Signs in with an admin key and sets the cookie; false for any other key. */
  signIn(reply: FastifyReply, presentedKey: string): Promise<boolean>;
  signOut(request: FastifyRequest, reply: FastifyReply): Promise<void>;
  /** The form token of this request's session: forms that change something must send it back. */
  csrfTokenOf(request: FastifyRequest): string;
  isCsrfTokenValid(request: FastifyRequest, token: unknown): boolean;
}

/**
 * Sessions kept in Postgres (any API process knows them, signing out ends them everywhere) behind
 * a cookie signed with a key derived from the admin keys: a cookie of another deployment, or one
 * from before the keys changed, fails its signature without a database read.
 */
export function createDashboardSessions(deps: {
  db: Database;
  adminKeyDigests: readonly Buffer[];
  ttlSeconds: number;
}): DashboardSessions {
  const open = deps.adminKeyDigests.length === 0;
  const signingKey = createHash("sha256")
    .update("aitasks dashboard session\0")
    .update(Buffer.concat([...deps.adminKeyDigests].sort(Buffer.compare)))
    .digest();
  const mac = (purpose: string, token: string) =>
    createHmac("sha256", signingKey).update(`${purpose}\0${token}`).digest("base64url");
  const equal = (a: string, b: string) => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));

  /** The session token in the request's cookie when its signature holds. */
  function tokenOf(request: FastifyRequest): string | undefined {
    const value = readCookie(request.headers.cookie, SESSION_COOKIE);
    const match = value === undefined ? null : /^([\w-]{43})\.([\w-]{43})$/.exec(value);
    if (!match?.[1] || !match[2]) return undefined;
    return equal(match[2], mac("cookie", match[1])) ? match[1] : undefined;
  }
  const cookieOptions = "Path=/; Secure; HttpOnly; SameSite=Strict";

  return {
    open,
    async principalOf(request) {
      if (open) return { role: "open" };
      const token = tokenOf(request);
      if (!token) return undefined;
      return (await isDashboardSessionOpen(deps.db, deps.adminKeyDigests, token)) ? { role: "admin" } : undefined;
    },
    async signIn(reply, presentedKey) {
      const session = await openDashboardSession(deps.db, deps.adminKeyDigests, presentedKey, deps.ttlSeconds);
      if (!session) return false;
      reply.header(
        "set-cookie",
        `${SESSION_COOKIE}=${session.token}.${mac("cookie", session.token)}; ${cookieOptions}; Max-Age=${deps.ttlSeconds}`,
      );
      return true;
    },
    async signOut(request, reply) {
      const token = tokenOf(request);
      if (token) await closeDashboardSession(deps.db, token);
      reply.header("set-cookie", `${SESSION_COOKIE}=; ${cookieOptions}; Max-Age=0`);
    },
    csrfTokenOf(request) {
      return mac("form", tokenOf(request) ?? "open");
    },
    isCsrfTokenValid(request, token) {
      return typeof token === "string" && equal(token, mac("form", tokenOf(request) ?? "open"));
    },
  };
}

/** One cookie's value from a Cookie header; undefined when absent or sent twice (which one would be ours?). */
function readCookie(header: string | undefined, name: string): string | undefined {
  const values = (header ?? "")
    .split(";")
    .map((pair) => pair.trim())
    .filter((pair) => pair.startsWith(`${name}=`))
    .map((pair) => pair.slice(name.length + 1));
  return values.length === 1 ? values[0] : undefined;
}
