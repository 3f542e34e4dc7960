import {
  creditEntries,
  formatAmount,
  type LedgerCategory,
  ledgerEntries,
  minorUnitsToAmount,
  parseAmount,
  type Transaction,
} from "@aitasks/db";
import { and, inArray, or, sql } from "drizzle-orm";

type CreditSource = (typeof creditEntries.$inferInsert)["source"];
type StripeCategory = Exclude<LedgerCategory, "api_cost">;

/** One row a Stripe object's state implies in the money ledger. Amounts are exact pico-units of `currency`. */
export interface MoneyLine {
  /** Its `stripe_object_id`: the object's id, `<id>/reversed`, a balance transaction's id for fees. */
  key: string;
  category: StripeCategory;
  amount: bigint;
  currency: string;
  userId: number | null;
  chargeId: string | null;
  balanceTransactionId?: string | null;
  /** What the customer paid or got back, in their currency, when `amount` is what Stripe settled. */
  original?: { amount: bigint; currency: string } | null;
  /**
   * The amount is the whole of what its bucket (category, currency, user) should hold, not one
   * fact among others: it is booked as what the bucket lacks (a charge's running refund total).
   */
  topsUp?: boolean;
}

/** One movement a Stripe object's state implies in the credit ledger (USD, pico). */
export interface CreditLine {
  key: string;
  source: CreditSource;
  amount: bigint;
  /** Null: nobody to credit (the movement is not booked). */
  userId: number | null;
  topsUp?: boolean;
}

/** What a Stripe object's state implies: the rows of both ledgers, each under its own key. */
export interface StripeBooks {
  money: MoneyLine[];
  credit: CreditLine[];
}

/**
 * The rows that belong to one Stripe object: those keyed by its id or `<id>/...` (its reversal,
 * its adjustments), and those keyed by the balance transactions it names (its fees, a dispute's
 * movements), within the categories and credit sources its books use.
 */
export interface StripeFamily {
  id: string;
  categories: StripeCategory[];
  sources: CreditSource[];
  balanceTransactionIds: string[];
}

/** Exact pico-units of an amount in a currency's smallest unit (cents, yen, fils). */
export const picoOf = (minor: number, currency: string): bigint => parseAmount(minorUnitsToAmount(minor, currency));

const bucketOf = (category: string, currency: string, userId: number | null) => `${category} ${currency} ${userId}`;

/**
 * Books an object's state minus what is booked for it already, so that however often and in
 * whatever order its states come, its books end as its latest state implies, each fact once.
 * First every line not booked yet is booked under its own key (a new fact: a refund, its
 * reversal, a fee). Then, per bucket (money: category, currency and user; credit: user), whatever
 * still differs from what the state implies (a refund first booked in the customer's currency and
 * now settled, a refund attributed to its payment's user, a take-back that the payment's grant
 * changes) is booked as an adjustment, `<id>/adjust/<n>`. Nothing is ever updated or deleted.
 * The caller holds the object's lock (`lockStripeKeys`), so the adjustments are numbered in turn.
 */
export async function convergeStripeBooks(
  tx: Transaction,
  family: StripeFamily,
  books: StripeBooks,
  occurredAt: Date,
): Promise<void> {
  await convergeMoney(tx, family, books.money, occurredAt);
  await convergeCredit(tx, family, books.credit, occurredAt);
}

const ADJUSTMENT = /\/adjust\/(\d+)$/;
const nextAdjustment = (keys: string[]) =>
  1 + keys.reduce((most, key) => Math.max(most, Number(ADJUSTMENT.exec(key)?.[1] ?? 0)), 0);

async function convergeMoney(tx: Transaction, family: StripeFamily, lines: MoneyLine[], occurredAt: Date) {
  if (family.categories.length === 0) return;
  const keys = [family.id, ...family.balanceTransactionIds];
  const rows = await tx
    .select({
      key: ledgerEntries.stripeObjectId,
      category: ledgerEntries.category,
      currency: ledgerEntries.currency,
      userId: ledgerEntries.userId,
      amount: ledgerEntries.amountUsd,
      chargeId: ledgerEntries.stripeChargeId,
    })
    .from(ledgerEntries)
    .where(
      and(
        inArray(ledgerEntries.category, family.categories),
        or(
          inArray(ledgerEntries.stripeObjectId, keys),
          sql`starts_with(${ledgerEntries.stripeObjectId}, ${`${family.id}/`})`,
        ),
      ),
    );
  const booked = new Map<string, bigint>();
  const bookedKeys = new Set<string>();
  const chargeOfBucket = new Map<string, string | null>();
  const add = (bucket: string, amount: bigint) => booked.set(bucket, (booked.get(bucket) ?? 0n) + amount);
  for (const row of rows) {
    const bucket = bucketOf(row.category, row.currency, row.userId);
    add(bucket, parseAmount(row.amount));
    bookedKeys.add(`${row.category} ${row.key}`);
    chargeOfBucket.set(bucket, row.chargeId);
  }
  const insert = (line: MoneyLine, key: string, amount: bigint) =>
    tx
      .insert(ledgerEntries)
      .values({
        kind: line.category === "payment_fee" ? "expense" : "income",
        category: line.category,
        amountUsd: formatAmount(amount),
        currency: line.currency,
        occurredAt,
        userId: line.userId,
        stripeObjectId: key,
        stripeChargeId: line.chargeId,
        stripeBalanceTransactionId: line.balanceTransactionId ?? null,
        ...(line.original && amount === line.amount
          ? { originalAmount: formatAmount(line.original.amount), originalCurrency: line.original.currency }
          : {}),
      })
      .onConflictDoNothing({ target: [ledgerEntries.category, ledgerEntries.stripeObjectId] });

  const target = new Map<string, { amount: bigint; line: MoneyLine }>();
  for (const line of lines) {
    const bucket = bucketOf(line.category, line.currency, line.userId);
    const implied = target.get(bucket);
    target.set(bucket, { amount: (implied?.amount ?? 0n) + line.amount, line: implied?.line ?? line });
    if (bookedKeys.has(`${line.category} ${line.key}`)) continue;
    const amount = line.topsUp ? line.amount - (booked.get(bucket) ?? 0n) : line.amount;
    if (amount === 0n) continue;
    await insert(line, line.key, amount);
    add(bucket, amount);
    bookedKeys.add(`${line.category} ${line.key}`);
  }
  let adjustment = nextAdjustment(rows.map((row) => row.key ?? ""));
  for (const bucket of new Set([...target.keys(), ...booked.keys()])) {
    const difference = (target.get(bucket)?.amount ?? 0n) - (booked.get(bucket) ?? 0n);
    if (difference === 0n) continue;
    const [category, currency, user] = bucket.split(" ") as [StripeCategory, string, string];
    const like = target.get(bucket)?.line;
    const line: MoneyLine = {
      key: "",
      category,
      currency,
      amount: difference,
      userId: user === "null" ? null : Number(user),
      chargeId: like?.chargeId ?? chargeOfBucket.get(bucket) ?? null,
      balanceTransactionId: like?.balanceTransactionId ?? null,
    };
    await insert(line, `${family.id}/adjust/${adjustment++}`, difference);
  }
}

async function convergeCredit(tx: Transaction, family: StripeFamily, lines: CreditLine[], occurredAt: Date) {
  if (family.sources.length === 0) return;
  const rows = await tx
    .select({
      key: creditEntries.sourceKey,
      source: creditEntries.source,
      userId: creditEntries.userId,
      amount: creditEntries.amount,
    })
    .from(creditEntries)
    .where(
      and(
        inArray(creditEntries.source, family.sources),
        or(
          sql`${creditEntries.sourceKey} = ${family.id}`,
          sql`starts_with(${creditEntries.sourceKey}, ${`${family.id}/`})`,
        ),
      ),
    );
  const booked = new Map<number, bigint>();
  const bookedKeys = new Set(rows.map((row) => `${row.source} ${row.key}`));
  for (const row of rows) booked.set(row.userId, (booked.get(row.userId) ?? 0n) + parseAmount(row.amount));
  const insert = (userId: number, source: CreditSource, key: string, amount: bigint) =>
    tx
      .insert(creditEntries)
      .values({ userId, source, sourceKey: key, amount: formatAmount(amount), occurredAt })
      .onConflictDoNothing({ target: [creditEntries.source, creditEntries.sourceKey] });

  const target = new Map<number, bigint>();
  // By user, in order, so that two transactions moving the same users' balances take their rows in one order.
  const ordered = lines
    .filter((line): line is CreditLine & { userId: number } => line.userId !== null)
    .sort((a, b) => a.userId - b.userId);
  for (const line of ordered) {
    target.set(line.userId, (target.get(line.userId) ?? 0n) + line.amount);
    if (bookedKeys.has(`${line.source} ${line.key}`)) continue;
    const amount = line.topsUp ? line.amount - (booked.get(line.userId) ?? 0n) : line.amount;
    if (amount === 0n) continue;
    await insert(line.userId, line.source, line.key, amount);
    booked.set(line.userId, (booked.get(line.userId) ?? 0n) + amount);
    bookedKeys.add(`${line.source} ${line.key}`);
  }
  const source = family.sources[0]!;
  let adjustment = nextAdjustment(rows.map((row) => row.key));
  const users = [...new Set([...target.keys(), ...booked.keys()])].sort((a, b) => a - b);
  for (const userId of users) {
    const difference = (target.get(userId) ?? 0n) - (booked.get(userId) ?? 0n);
    if (difference !== 0n) await insert(userId, source, `${family.id}/adjust/${adjustment++}`, difference);
  }
}
