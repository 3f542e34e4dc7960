import { createHash, timingSafeEqual } from "node:crypto";
import { apiKeys, type Executor, preparedPerDatabase, users } from "@aitasks/db";
import { and, eq, isNull, sql } from "drizzle-orm";

/** Who is calling: decided once per request from its API key. */
export type Principal =
  /** No ADMIN_API_KEY configured: the API runs open, as the original service did. */
  | { role: "open" }
  | { role: "admin" }
  /** `budgeted`: the key had a budget when the request began (its submissions are checked against it). */
  | { role: "user"; userId: number; identifier: string; keyId: number; budgeted: boolean };

export const hashKey = (key: string) => createHash("sha256").update(key, "utf8").digest();

/** Admin keys as digests, so every comparison takes the same time whatever the input's length. */
export function adminKeyDigests(adminKeys: readonly string[]): Buffer[] {
  return adminKeys.map(hashKey);
}

/** The configured admin key's digest that `presentedKey` is, compared in constant time; else undefined. */
export function adminDigestOf(adminDigests: readonly Buffer[], presentedKey: string): Buffer | undefined {
  const digest = hashKey(presentedKey);
  let match: Buffer | undefined;
  for (const admin of adminDigests) if (timingSafeEqual(admin, digest)) match = admin;
  return match;
}

/**
 * The principal for a presented key, or undefined when the key is unknown or revoked. Admin keys
 * are compared in constant time; user keys are found by their hash (the stored value is the
 * hash, so nothing secret is compared), which also makes a revocation effective at once.
 */
export async function findPrincipal(
  db: Executor,
  adminDigests: readonly Buffer[],
  presentedKey: string,
): Promise<Principal | undefined> {
  if (adminDigestOf(adminDigests, presentedKey)) return { role: "admin" };
  const [row] = await findUserKeyQuery(db).execute({ keyHash: hashKey(presentedKey).toString("hex") });
  return row ? { role: "user", ...row } : undefined;
}

// Every keyed request runs this: built and prepared once per database, not on each call.
const findUserKeyQuery = preparedPerDatabase((db) =>
  db
    .select({
      keyId: apiKeys.id,
      userId: apiKeys.userId,
      identifier: users.identifier,
      budgeted: sql<boolean>`${apiKeys.budgetUsd} is not null`,
    })
    .from(apiKeys)
    .innerJoin(users, eq(users.id, apiKeys.userId))
    .where(and(eq(apiKeys.keyHash, sql.placeholder("keyHash")), isNull(apiKeys.revokedAt)))
    .prepare("find_user_key"),
);
