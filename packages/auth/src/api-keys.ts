import { randomBytes } from "node:crypto";
import { apiKeys, users } from "@aitasks/db";
import { NotFoundError } from "@aitasks/errors";
import { and, desc, eq, isNull, sql } from "drizzle-orm";
import { type AccessContext, requireAdminKey } from "./access.js";
import { hashKey } from "./principal.js";

/** A key as the domain returns it (never its hash): its row's public part, with its user's identifier. */
export interface ApiKeyRecord {
  id: number;
  identifier: string;
  prefix: string;
  createdAt: Date;
  revokedAt: Date | null;
}

const toRecord = (key: typeof apiKeys.$inferSelect, identifier: string): ApiKeyRecord => ({
  id: key.id,
  identifier,
  prefix: key.prefix,
  createdAt: key.createdAt,
  revokedAt: key.revokedAt,
});

/**
 * Creates a key for the user (created too if new), with its budget if given (amount as a numeric's
 * text, checked by the caller: the ledger's `KeyBudget`). The key itself is returned here only:
 * what is stored is its SHA-256.
 */
export async function createApiKey(
  { db, principal }: AccessContext,
  identifier: string,
  budget?: { amount: string; period: "day" | "week" | "month" | "total" },
) {
  requireAdminKey(principal);
  const key = `ak_${randomBytes(32).toString("base64url")}`;
  const [user] = await db
    .insert(users)
    .values({ identifier })
    .onConflictDoUpdate({ target: users.identifier, set: { identifier: sql`excluded.identifier` } })
    .returning({ id: users.id });
  const [created] = await db
    .insert(apiKeys)
    .values({
      userId: user!.id,
      keyHash: hashKey(key).toString("hex"),
      prefix: key.slice(0, 10),
      budgetUsd: budget?.amount ?? null,
      budgetPeriod: budget?.period ?? null,
    })
    .returning();
  return { ...toRecord(created!, identifier), key };
}

export async function listApiKeys({ db, principal }: AccessContext) {
  requireAdminKey(principal);
  const rows = await db
    .select({ key: apiKeys, identifier: users.identifier })
    .from(apiKeys)
    .innerJoin(users, eq(users.id, apiKeys.userId))
    .orderBy(desc(apiKeys.id));
  return rows.map((row) => toRecord(row.key, row.identifier));
}

/** One key, for an admin. */
export async function findApiKey({ db, principal }: AccessContext, keyId: number) {
  requireAdminKey(principal);
  const [row] = await db
    .select({ key: apiKeys, identifier: users.identifier })
    .from(apiKeys)
    .innerJoin(users, eq(users.id, apiKeys.userId))
    .where(eq(apiKeys.id, keyId));
  if (!row) throw new NotFoundError(`API key ${keyId} not found`);
  return toRecord(row.key, row.identifier);
}

/** Revokes a key; the next request with it is refused. Revoking twice is harmless. */
export async function revokeApiKey({ db, principal }: AccessContext, keyId: number) {
  requireAdminKey(principal);
  await db
    .update(apiKeys)
    .set({ revokedAt: sql`now()` })
    .where(and(eq(apiKeys.id, keyId), isNull(apiKeys.revokedAt)));
  return findApiKey({ db, principal }, keyId);
}
