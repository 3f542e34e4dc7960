import { findPrincipal, type Principal } from "@aitasks/auth";
import type { Database } from "@aitasks/db";
import { ForbiddenError, UnauthorizedError } from "@aitasks/errors";
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { FailedAuthenticationLimiter } from "./rate-limit.js";

declare module "fastify" {
  interface FastifyRequest {
    principal: Principal;
  }
}

const OPEN: Principal = { role: "open" };

/**
 * The key from `Authorization: Bearer <key>`, else from `X-API-Key`. An `Authorization` header of
 * another scheme (a proxy's Basic credentials, say) is not ours and does not hide `X-API-Key`; a
 * Bearer header without a readable key counts as no key.
 */
function presentedKey(request: FastifyRequest): string | undefined {
  const authorization = request.headers.authorization ?? "";
  if (/^Bearer\b/i.test(authorization)) return /^Bearer\s+(\S+)\s*$/i.exec(authorization)?.[1] ?? "";
  const header = request.headers["x-api-key"];
  return typeof header === "string" ? header.trim() : undefined;
}

/**
 * Decides who is calling, before anything else runs for the routes of this scope. With no admin
 * key configured the API is open (local mode) and every caller is `open`.
 */
export function authenticate(
  app: FastifyInstance,
  deps: { db: Database; adminKeyDigests: readonly Buffer[]; failures?: FailedAuthenticationLimiter | undefined },
) {
  app.decorateRequest("principal", null as never);
  app.addHook("onRequest", async (request, reply) => {
    if (deps.adminKeyDigests.length === 0) {
      request.principal = OPEN;
      return;
    }
    await deps.failures?.check(request.ip, reply);
    const key = presentedKey(request);
    if (!key) {
      await deps.failures?.recordFailure(request.ip);
      reply.header("www-authenticate", 'Bearer realm="api"');
      throw new UnauthorizedError();
    }
    const principal = await findPrincipal(deps.db, deps.adminKeyDigests, key);
    if (!principal) {
      await deps.failures?.recordFailure(request.ip);
      reply.header("www-authenticate", 'Bearer realm="api", error="invalid_token"');
      throw new UnauthorizedError("this API key is not valid (unknown or revoked)");
    }
    request.principal = principal;
  });
}

/** Reports, stats and key management: the business's own data. */
export function requireAdmin(request: FastifyRequest): void {
  if (request.principal.role === "user") throw new ForbiddenError("this endpoint needs an admin API key");
}

/**
 * Key management needs a real admin key, even in open mode: a key minted while the API runs open
 * would keep working once ADMIN_API_KEY is set, by someone who never held an admin key.
 */
export function requireAdminKey(request: FastifyRequest): void {
  if (request.principal.role === "open") {
    throw new ForbiddenError("API keys are managed with an admin key: set ADMIN_API_KEY first");
  }
  requireAdmin(request);
}
