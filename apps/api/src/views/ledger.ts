import type { LedgerEntry as LedgerEntryView } from "@aitasks/contract";
import { amountToNumber, formatAmountShort } from "@aitasks/db";
import type { LedgerEntry, LedgerRange } from "@aitasks/reports";

// GET /api/ledger's JSON and CSV (docs/api.md), built here only, as text produced while the
// entries are read: a range's answer is never held whole.

/** Text is handed on in pieces of about this size rather than a write per entry. */
const CHUNK_CHARS = 64 * 1024;

async function* inChunks(pieces: AsyncIterable<string>): AsyncGenerator<string> {
  let chunk = "";
  for await (const piece of pieces) {
    chunk += piece;
    if (chunk.length >= CHUNK_CHARS) {
      yield chunk;
      chunk = "";
    }
  }
  if (chunk) yield chunk;
}

/** One entry of the JSON answer: amounts as JSON numbers (SPEC), `null` where a book has no such field. */
function toLedgerEntryView(entry: LedgerEntry): LedgerEntryView {
  return {
    book: entry.book,
    id: entry.id,
    occurred_at: entry.occurredAt.toISOString(),
    kind: entry.kind,
    category: entry.category,
    amount: amountToNumber(entry.amount),
    currency: entry.currency,
    user_id: entry.userId,
    task_id: entry.taskId,
    reference: entry.reference,
    original_amount: entry.originalAmount === null ? null : amountToNumber(entry.originalAmount),
    original_currency: entry.originalCurrency,
  };
}

/** `{"from", "to", "entries": [...]}`, written as the entries come. */
export function toLedgerJson(range: LedgerRange, entries: AsyncIterable<LedgerEntry>): AsyncGenerator<string> {
  return inChunks(
    (async function* () {
      yield `{"from":${JSON.stringify(range.from)},"to":${JSON.stringify(range.to)},"entries":[`;
      let separator = "";
      for await (const entry of entries) {
        yield separator + JSON.stringify(toLedgerEntryView(entry));
        separator = ",";
      }
      yield "]}";
    })(),
  );
}

// A spreadsheet runs a cell that starts with one of these as a formula (OWASP, "CSV Injection":
// https://owasp.org/www-community/attacks/CSV_Injection). Text from users and from Stripe
// (identifiers, references) could, so such text gets a leading apostrophe. Numbers are ours, and
// a negative amount is a number, not a formula: those cells are left as they are.
const FORMULA_START = /^[=+\-@\t\r]/;

/** RFC 4180: a field holding a comma, a quote or a line break is quoted, its quotes doubled. */
function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

const textCell = (value: string | null) =>
  value === null ? "" : csvField(FORMULA_START.test(value) ? `'${value}` : value);
const numberCell = (value: number | bigint | null) =>
  value === null ? "" : typeof value === "bigint" ? formatAmountShort(value) : String(value);

/** The CSV's columns, in order: the JSON entry's fields. */
const CSV_COLUMNS: readonly [name: string, cell: (entry: LedgerEntry) => string][] = [
  ["book", (entry) => textCell(entry.book)],
  ["id", (entry) => numberCell(entry.id)],
  ["occurred_at", (entry) => textCell(entry.occurredAt.toISOString())],
  ["kind", (entry) => textCell(entry.kind)],
  ["category", (entry) => textCell(entry.category)],
  ["amount", (entry) => numberCell(entry.amount)],
  ["currency", (entry) => textCell(entry.currency)],
  ["user_id", (entry) => textCell(entry.userId)],
  ["task_id", (entry) => numberCell(entry.taskId)],
  ["reference", (entry) => textCell(entry.reference)],
  ["original_amount", (entry) => numberCell(entry.originalAmount)],
  ["original_currency", (entry) => textCell(entry.originalCurrency)],
];

const csvLine = (cells: readonly string[]) => `${cells.join(",")}\r\n`;

/** A header row, then one CRLF-ended line per entry, amounts as exact decimals. */
export function toLedgerCsv(entries: AsyncIterable<LedgerEntry>): AsyncGenerator<string> {
  return inChunks(
    (async function* () {
      yield csvLine(CSV_COLUMNS.map(([name]) => name));
      for await (const entry of entries) yield csvLine(CSV_COLUMNS.map(([, cell]) => cell(entry)));
    })(),
  );
}

/** The file name a browser saves the CSV as. */
export const ledgerCsvFileName = (range: LedgerRange) => `ledger-${range.from}-${range.to}.csv`;
