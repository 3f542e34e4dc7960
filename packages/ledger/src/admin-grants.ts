import { randomUUID } from "node:crypto";
import { type AccessContext, requireAdminKey } from "@aitasks/auth";
import {
  creditBalances,
  creditEntries,
  decimalAmount,
  formatAmountShort,
  parseAmount,
  storableText,
  UserIdentifier,
} from "@aitasks/db";
import { ValidationError } from "@aitasks/errors";
import { eq } from "drizzle-orm";
import { z } from "zod";
import { findCreditUser, getBalance } from "./credit.js";

/**
 * The most credit, in US dollars, that an admin grants or takes back at once, and the furthest from
 * zero (either way) a grant may leave a balance. A thousandth of what the credit columns hold
 * (`numeric(24,12)`: under 10^12), so that a balance, its holds and a grant still fit when added,
 * even by grants racing past the check; and an amount to the micro-dollar is still exact as a
 * JSON number (a double holds 15 digits).
 */
export const MAX_CREDIT_USD = 1_000_000_000;
const MAX_CREDIT = parseAmount(String(MAX_CREDIT_USD));
/** Whether an exact amount (pico-USD) is within ±MAX_CREDIT_USD. */
const isWithinCreditLimit = (pico: bigint) => pico >= -MAX_CREDIT && pico <= MAX_CREDIT;

/** POST /api/credits: an admin's grant (positive) or take-back (negative), to the micro-dollar. */
export const CreditGrantBody = z.object(
  {
    user_id: UserIdentifier,
    amount: decimalAmount("amount", { signed: true }).refine(
      // Only an amount that passed the decimal rule is compared (the check runs after a failed one too,
      // and a number such as 1.0000000000000002e-6 spells 22 decimals, which no amount holds).
      (amount) => !/^-?\d{1,12}(\.\d{1,6})?$/.test(amount) || isWithinCreditLimit(parseAmount(amount)),
      `amount must be from -${MAX_CREDIT_USD} to ${MAX_CREDIT_USD} (US dollars)`,
    ),
    reason: storableText("reason").min(1, "reason must not be empty").max(500, "reason must be at most 500 characters"),
  },
  { error: "body must be a JSON object" },
);
export type CreditGrantBody = z.infer<typeof CreditGrantBody>;

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
  const user = await findCreditUser(db, grant.user_id);
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
