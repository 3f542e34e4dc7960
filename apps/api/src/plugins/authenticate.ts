import { findPrincipal, type Principal } from "@aitasks/auth";
import type { Database } from "@aitasks/db";
import { UnauthorizedError } from "@aitasks/errors";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
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
  const principalOf = async (request: FastifyRequest, reply: FastifyReply): Promise<Principal> => {
    const key = presentedKey(request);
    // The key is looked up before the address's failures are read: a valid key passes whatever
    // other requests from its address sent (docs/security.md, Limits).
    const principal = key ? await findPrincipal(deps.db, deps.adminKeyDigests, key) : undefined;
    if (principal) return principal;
    await deps.failures?.recordFailure(request.ip, reply);
    if (!key) {
      reply.header("www-authenticate", 'Bearer realm="api"');
      throw new UnauthorizedError();
    }
    reply.header("www-authenticate", 'Bearer realm="api", error="invalid_token"');
    throw new UnauthorizedError("this API key is not valid (unknown or revoked)");
  };
  // A callback hook, so that the open API pays for no promise on every request.
  app.addHook("onRequest", (request, reply, done) => {
    if (deps.adminKeyDigests.length === 0) {
      request.principal = OPEN;
      done();
      return;
    }
    principalOf(request, reply).then((principal) => {
      request.principal = principal;
      done();
    }, done);
  });
}
