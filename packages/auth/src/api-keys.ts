import { randomBytes } from "node:crypto";
import { apiKeys, type Database, users } from "@aitasks/db";
import { NotFoundError } from "@aitasks/errors";
import { and, desc, eq, isNull, sql } from "drizzle-orm";
import { hashKey } from "./principal.js";

const toView = (key: typeof apiKeys.$inferSelect & { identifier: string }) => ({
  id: key.id,
  user_id: key.identifier,
  prefix: key.prefix,
  created_at: key.createdAt.toISOString(),
  revoked_at: key.revokedAt?.toISOString() ?? null,
});

/**
 * Creates a key for the user (created too if new). The key itself is returned here only:
 * what is stored is its SHA-256.
 */
export async function createApiKey(db: Database, identifier: string) {
  const key = `ak_${randomBytes(32).toString("base64url")}`;
  const [user] = await db
    .insert(users)
    .values({ identifier })
    .onConflictDoUpdate({ target: users.identifier, set: { identifier: sql`excluded.identifier` } })
    .returning({ id: users.id });
  const [created] = await db
    .insert(apiKeys)
    .values({ userId: user!.id, keyHash: hashKey(key).toString("hex"), prefix: key.slice(0, 10) })
    .returning();
  return { ...toView({ ...created!, identifier }), key };
}

export async function listApiKeys(db: Database) {
  const rows = await db
    .select({ key: apiKeys, identifier: users.identifier })
    .from(apiKeys)
    .innerJoin(users, eq(users.id, apiKeys.userId))
    .orderBy(desc(apiKeys.id));
  return rows.map((row) => toView({ ...row.key, identifier: row.identifier }));
}

/** Revokes a key; the next request with it is refused. Revoking twice is harmless. */
export async function revokeApiKey(db: Database, keyId: number) {
  await db
    .update(apiKeys)
    .set({ revokedAt: sql`now()` })
    .where(and(eq(apiKeys.id, keyId), isNull(apiKeys.revokedAt)));
  const [row] = await db
    .select({ key: apiKeys, identifier: users.identifier })
    .from(apiKeys)
    .innerJoin(users, eq(users.id, apiKeys.userId))
    .where(eq(apiKeys.id, keyId));
  if (!row) throw new NotFoundError(`API key ${keyId} not found`);
  return toView({ ...row.key, identifier: row.identifier });
}
