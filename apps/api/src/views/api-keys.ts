import type { ApiKeyRecord } from "@aitasks/auth";
import type { ApiKey } from "@aitasks/contract";

/** A key as /api/keys shows it: never the key itself, except once, on creation (`key`). */
export function toApiKeyView(key: ApiKeyRecord): ApiKey {
  return {
    id: key.id,
    user_id: key.identifier,
    prefix: key.prefix,
    created_at: key.createdAt.toISOString(),
    revoked_at: key.revokedAt?.toISOString() ?? null,
  };
}
