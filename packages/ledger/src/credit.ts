import type { AccessContext } from "@aitasks/auth";
import { creditBalances, parseAmount, UserIdentifier, users } from "@aitasks/db";
import { ForbiddenError, NotFoundError, ValidationError } from "@aitasks/errors";
import { eq } from "drizzle-orm";
import { z } from "zod";

/** GET /api/balance: whose (an admin names the user; a user key may leave it out). */
export const BalanceQuery = z.object({ user_id: UserIdentifier.optional() });

/** A user's credit, exact (pico-USD): `available` is what new holds may take. */
export interface Balance {
  userIdentifier: string;
  balance: bigint;
  held: bigint;
  available: bigint;
}

export async function findCreditUser(db: AccessContext["db"], identifier: string) {
  const [user] = await db.select({ id: users.id }).from(users).where(eq(users.identifier, identifier));
  if (!user) throw new NotFoundError(`user ${identifier} not found`);
  return user;
}

/**
 * The credit of a user: a user key's own (asking for another user's is refused), or, for an admin,
 * the one named. A user that never had credit has zeros.
 */
export async function getBalance({ db, principal }: AccessContext, identifier: string | undefined): Promise<Balance> {
  if (principal.role === "user") {
    if (identifier !== undefined && identifier !== principal.identifier) {
      throw new ForbiddenError("a user key sees its own balance only");
    }
    identifier = principal.identifier;
  }
  if (identifier === undefined) throw new ValidationError("user_id is required: whose balance?");
  const user = await findCreditUser(db, identifier);
  const [row] = await db
    .select({ balance: creditBalances.balance, held: creditBalances.held })
    .from(creditBalances)
    .where(eq(creditBalances.userId, user.id));
  const balance = parseAmount(row?.balance ?? "0");
  const held = parseAmount(row?.held ?? "0");
  return { userIdentifier: identifier, balance, held, available: balance - held };
}
