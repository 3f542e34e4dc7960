import type { Balance as BalanceView, CreditGrant } from "@aitasks/contract";
import { amountToNumber, type creditEntries } from "@aitasks/db";
import type { Balance } from "@aitasks/ledger";

// Credit JSON shapes (docs/api.md), built here only. Credit is in US dollars.

/** GET /api/balance. */
export function toBalanceView(balance: Balance): BalanceView {
  return {
    user_id: balance.userIdentifier,
    balance: amountToNumber(balance.balance),
    held: amountToNumber(balance.held),
    available: amountToNumber(balance.available),
    currency: "usd",
  };
}

/** One movement of credit, as POST /api/credits answers it. */
export function toCreditEntryView(
  entry: typeof creditEntries.$inferSelect,
  userIdentifier: string,
): Omit<CreditGrant, "balance"> {
  return {
    id: entry.id,
    user_id: userIdentifier,
    source: entry.source,
    amount: Number(entry.amount),
    reason: entry.reason,
    created_at: entry.createdAt.toISOString(),
  };
}
