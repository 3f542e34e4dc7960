import type { ApiKeyRecord } from "@aitasks/auth";
import type { ApiKey } from "@aitasks/contract";
import { amountToNumber } from "@aitasks/db";
import type { KeyBudgetState } from "@aitasks/ledger";

/** A key as /api/keys shows it: never the key itself, except once, on creation (`key`). */
export function toApiKeyView(key: ApiKeyRecord, budget: KeyBudgetState | undefined): ApiKey {
  return {
    id: key.id,
    user_id: key.identifier,
    prefix: key.prefix,
    created_at: key.createdAt.toISOString(),
    revoked_at: key.revokedAt?.toISOString() ?? null,
    budget: budget
      ? {
          amount: amountToNumber(budget.amount),
          period: budget.period,
          spent: amountToNumber(budget.spent),
          held: amountToNumber(budget.held),
          remaining: amountToNumber(maxOf(budget.amount - budget.spent - budget.held, 0n)),
        }
      : null,
  };
}

const maxOf = (a: bigint, b: bigint) => (a > b ? a : b);
