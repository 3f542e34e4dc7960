import type { Executor } from "@aitasks/db";
import { ForbiddenError } from "@aitasks/errors";
import type { Principal } from "./principal.js";

/** Who is asking, and the database to ask: what every access-checked domain verb takes. */
export interface AccessContext {
  db: Executor;
  principal: Principal;
}

/** The business's own data (reports, stats): an admin key, or open mode. */
export function requireAdmin(principal: Principal, what: string): void {
  if (principal.role === "user") throw new ForbiddenError(`${what} needs an admin API key`);
}

/**
 * Key management and credit grants need a real admin key, even in open mode: a key minted or a
 * credit granted while the API runs open would outlive it, once ADMIN_API_KEY is set, for someone
 * who never held an admin key.
 */
export function requireAdminKey(principal: Principal, what = "API key management"): void {
  if (principal.role === "open") throw new ForbiddenError(`${what} needs an admin key: set ADMIN_API_KEY first`);
  requireAdmin(principal, what);
}
