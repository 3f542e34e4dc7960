import { creditBalances, type Executor, parseAmount, users } from "@aitasks/db";
import type { Balance } from "@aitasks/ledger";
import { eq } from "drizzle-orm";

/** A user as an admin sees it: its identifier, its prepaid credit (exact, pico-USD) and since when it exists. */
export interface UserAccount extends Balance {
  email: string | null;
  createdAt: Date;
}

/** The user of `identifier` with its credit (zeros before any), or undefined when there is none. */
export async function readUserAccount(db: Executor, identifier: string): Promise<UserAccount | undefined> {
  const [row] = await db
    .select({
      identifier: users.identifier,
      email: users.email,
      createdAt: users.createdAt,
      balance: creditBalances.balance,
      held: creditBalances.held,
    })
    .from(users)
    .leftJoin(creditBalances, eq(creditBalances.userId, users.id))
    .where(eq(users.identifier, identifier));
  if (!row) return undefined;
  const balance = parseAmount(row.balance ?? "0");
  const held = parseAmount(row.held ?? "0");
  return {
    userIdentifier: row.identifier,
    email: row.email,
    createdAt: row.createdAt,
    balance,
    held,
    available: balance - held,
  };
}
