import { type AccessContext, requireAdmin } from "@aitasks/auth";
import { type Executor, parseAmount } from "@aitasks/db";
import { sql } from "drizzle-orm";
import type { LedgerRange } from "./schemas.js";

/** One movement of money (`ledger_entries`) or of prepaid credit (`credit_entries`), amounts exact. */
export interface LedgerEntry {
  book: "money" | "credit";
  id: number;
  occurredAt: Date;
  /**
   * Money: income or expense. Credit, by the amount's sign: `credit` when granted to the user (0 or
   * more), `debit` when taken back or charged.
   */
  kind: "income" | "expense" | "credit" | "debit";
  /** Money: its ledger category. Credit: its source (payment, invoice, refund, dispute, task, admin). */
  category: string;
  amount: bigint;
  /** Money: the row's currency. Credit is always US dollars. */
  currency: string;
  /** The user's identifier (`users.identifier`), not the numeric id. */
  userId: string | null;
  taskId: number | null;
  /** Money: the Stripe object booked. Credit: the source key (Stripe object, task id, grant id). */
  reference: string | null;
  /** Money only: what the customer paid, in their currency, when the row books what Stripe settled. */
  originalAmount: bigint | null;
  originalCurrency: string | null;
  /** Credit only: the reason booked with it (an admin's grant says why). */
  reason: string | null;
}

/** The entries in order, read from the database as they are consumed. */
export type LedgerEntries = AsyncGenerator<LedgerEntry, void>;

/** Entries read per statement. */
const PAGE_ROWS = 1000;
/** Above every id: after a money row at some instant, no credit row of that instant is left. */
const MAX_ID = "9223372036854775807";

// Every value comes as text: drizzle has postgres.js pass timestamps through unparsed, int8 comes
// as text anyway, and amounts must stay exact.
interface Row extends Record<string, unknown> {
  book: "money" | "credit";
  id: string;
  occurred_ms: string;
  kind: "income" | "expense" | null;
  category: string;
  amount: string;
  currency: string;
  user_id: string | null;
  task_id: string | null;
  reference: string | null;
  original_amount: string | null;
  original_currency: string | null;
  reason: string | null;
}

function toEntry(row: Row): LedgerEntry {
  const amount = parseAmount(row.amount);
  return {
    book: row.book,
    id: Number(row.id),
    occurredAt: new Date(Number(row.occurred_ms)),
    kind: row.kind ?? (amount < 0n ? "debit" : "credit"),
    category: row.category,
    amount,
    currency: row.currency,
    userId: row.user_id,
    taskId: row.task_id === null ? null : Number(row.task_id),
    reference: row.reference,
    originalAmount: row.original_amount === null ? null : parseAmount(row.original_amount),
    originalCurrency: row.original_currency,
    reason: row.reason,
  };
}

/** Where a page starts: after `(at, money id)` in the money book and `(at, credit id)` in the credit book. */
interface Position {
  at: string;
  moneyAfterId: string;
  creditAfterId: string;
}

/** The position after `entry`: in the order (occurred_at, book, id), `credit` sorts before `money`. */
const positionAfter = (entry: LedgerEntry): Position => ({
  at: entry.occurredAt.toISOString(),
  moneyAfterId: entry.book === "money" ? String(entry.id) : "0",
  creditAfterId: entry.book === "credit" ? String(entry.id) : MAX_ID,
});

/** The next page of the range's entries after `position`, in order. */
async function readPage(db: Executor, { to }: LedgerRange, position: Position): Promise<LedgerEntry[]> {
  const { at, moneyAfterId, creditAfterId } = position;
  // `to` is included up to its last instant, a UTC day whatever the session's time zone. Each book
  // is cut to a page before the two are merged, so that a page reads at most two pages' rows from
  // the occurred_at indexes, however many the range holds.
  const rows = await db.execute<Row>(sql`
    select e.book, e.id::text as id, (extract(epoch from e.occurred_at) * 1000)::bigint::text as occurred_ms,
      e.kind, e.category, e.amount::text as amount, e.currency, u.identifier as user_id, e.task_id::text as task_id,
      e.reference, e.original_amount::text as original_amount, e.original_currency, e.reason
    from (
      (select 'money' as book, l.id, l.occurred_at, l.kind::text as kind, l.category::text as category,
        l.amount_usd as amount, l.currency, l.user_id, l.task_id, l.stripe_object_id as reference,
        l.original_amount, l.original_currency, null::text as reason
      from ledger_entries l
      where l.occurred_at >= ${at}::timestamptz
        and l.occurred_at < (${to}::date + 1)::timestamp at time zone 'UTC'
        and (l.occurred_at, l.id) > (${at}::timestamptz, ${moneyAfterId}::bigint)
      order by l.occurred_at, l.id
      limit ${PAGE_ROWS})
      union all
      (select 'credit', c.id, c.occurred_at, null, c.source::text, c.amount, 'usd', c.user_id, c.task_id,
        c.source_key, null, null, c.reason
      from credit_entries c
      where c.occurred_at >= ${at}::timestamptz
        and c.occurred_at < (${to}::date + 1)::timestamp at time zone 'UTC'
        and (c.occurred_at, c.id) > (${at}::timestamptz, ${creditAfterId}::bigint)
      order by c.occurred_at, c.id
      limit ${PAGE_ROWS})
    ) e
    left join users u on u.id = e.user_id
    order by e.occurred_at, e.book, e.id
    limit ${PAGE_ROWS}`);
  return rows.map(toEntry);
}

async function* entriesFrom(db: Executor, range: LedgerRange, page: LedgerEntry[]): AsyncGenerator<LedgerEntry, void> {
  for (;;) {
    yield* page;
    const last = page.at(-1);
    if (!last || page.length < PAGE_ROWS) return;
    page = await readPage(db, range, positionAfter(last));
  }
}

/**
 * Every movement of money and of credit on the UTC days `from` to `to` (inclusive), ordered by
 * when it happened, then book, then id, read a page at a time as the caller consumes them: a
 * range is never held whole, and no connection is held between pages, however slowly the caller
 * reads. Resolves once the first page is read, so that an unreachable database fails the call
 * rather than the answer halfway.
 *
 * Each page starts after the last entry of the one before (keyset pagination), not from a cursor:
 * a cursor would hold a pooled connection, and a statement open past the sessions' 30 s limit, for
 * as long as the slowest client takes, and postgres.js 3.4.9 ends a cursor whose connection is
 * lost between fetches as if its rows were all read. Both books are append-only and an entry's
 * place in the order never changes, so every entry committed before the call is listed exactly
 * once; one committed while the pages are read may or may not be.
 */
export async function listLedger({ db, principal }: AccessContext, range: LedgerRange): Promise<LedgerEntries> {
  requireAdmin(principal, "the ledger");
  const first = await readPage(db, range, {
    at: `${range.from}T00:00:00.000Z`,
    moneyAfterId: "0",
    creditAfterId: "0",
  });
  return entriesFrom(db, range, first);
}
