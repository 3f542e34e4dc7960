import { randomUUID } from "node:crypto";
import { type AccessContext, requireAdminKey } from "@aitasks/auth";
import { creditBalances, creditEntries, formatAmountShort, parseAmount, users } from "@aitasks/db";
import { ForbiddenError, NotFoundError, ValidationError } from "@aitasks/errors";
import { eq } from "drizzle-orm";
import { type CreditGrantBody, isWithinCreditLimit, MAX_CREDIT_USD } from "../schemas.js";

/** A user's credit, exact (pico-USD): `available` is what new holds may take. */
export interface Balance {
  userIdentifier: string;
  balance: bigint;
  held: bigint;
  available: bigint;
}

async function findUser(db: AccessContext["db"], identifier: string) {
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
  const user = await findUser(db, identifier);
  const [row] = await db
    .select({ balance: creditBalances.balance, held: creditBalances.held })
    .from(creditBalances)
    .where(eq(creditBalances.userId, user.id));
  const balance = parseAmount(row?.balance ?? "0");
  const held = parseAmount(row?.held ?? "0");
  return { userIdentifier: identifier, balance, held, available: balance - held };
}

/**
 * An admin grants credit (a positive amount) or takes it back (a negative one). Each call is a new
 * grant with its own id; taking back more than the balance leaves it negative, a debt that new
 * tasks cannot be held against. A grant may not take a balance beyond ±MAX_CREDIT_USD (one already
 * beyond, by payments, may still be brought back towards zero).
 */
export async function grantCredit({ db, principal }: AccessContext, grant: CreditGrantBody) {
  requireAdminKey(principal, "granting credit");
  const amount = parseAmount(grant.amount);
  if (amount === 0n) throw new ValidationError("amount must not be 0");
  const user = await findUser(db, grant.user_id);
  const entry = await db.transaction(async (tx) => {
    // Locked until the grant is booked, so that two grants at once do not both pass on the old balance.
    const [row] = await tx
      .select({ balance: creditBalances.balance })
      .from(creditBalances)
      .where(eq(creditBalances.userId, user.id))
      .for("update");
    const after = parseAmount(row?.balance ?? "0") + amount;
    if (!isWithinCreditLimit(after) && after > 0n === amount > 0n) {
      throw new ValidationError(
        `this grant would leave ${grant.user_id} a balance of ${formatAmountShort(after)} USD: a balance may be at most ${MAX_CREDIT_USD} USD either way`,
      );
    }
    const [inserted] = await tx
      .insert(creditEntries)
      .values({
        userId: user.id,
        source: "admin",
        sourceKey: randomUUID(),
        amount: grant.amount,
        reason: grant.reason,
        occurredAt: new Date(),
      })
      .returning();
    return inserted!;
  });
  return { entry, balance: await getBalance({ db, principal }, grant.user_id) };
}
