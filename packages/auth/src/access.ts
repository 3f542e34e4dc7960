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
 * Key management needs a real admin key, even in open mode: a key minted while the API runs open
 * would keep working once ADMIN_API_KEY is set, by someone who never held an admin key.
 */
export function requireAdminKey(principal: Principal): void {
  if (principal.role === "open") {
    throw new ForbiddenError("API keys are managed with an admin key: set ADMIN_API_KEY first");
  }
  requireAdmin(principal, "API key management");
}
