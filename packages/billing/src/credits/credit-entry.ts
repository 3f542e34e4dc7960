import { creditEntries, parseAmount, type Transaction } from "@aitasks/db";

type CreditSource = (typeof creditEntries.$inferInsert)["source"];

/**
 * Books one movement of a user's credit, once: a second booking of the same source and key (a
 * redelivered event, the same refund seen through another event) is a no-op. The balance follows
 * by trigger in the same transaction. A movement without a user, or of nothing, books nothing.
 */
export async function bookCredit(
  tx: Transaction,
  movement: {
    userId: number | null;
    source: CreditSource;
    sourceKey: string;
    /** Exact USD, signed: positive grants, negative takes back. */
    amount: string;
    occurredAt: Date;
    reason?: string;
  },
): Promise<void> {
  const { userId, ...entry } = movement;
  if (userId === null || parseAmount(entry.amount) === 0n) return;
  await tx
    .insert(creditEntries)
    .values({ userId, ...entry })
    .onConflictDoNothing({ target: [creditEntries.source, creditEntries.sourceKey] });
}
