import type { LedgerEntry, LedgerRange } from "@aitasks/reports";
import { html } from "../html.js";
import { money, when } from "./format.js";
import { type Chrome, page } from "./layout.js";

export function ledgerPage(ledger: { range: LedgerRange; entries: LedgerEntry[]; more: boolean }, chrome: Chrome) {
  const { from, to } = ledger.range;
  const csv = `/dashboard/ledger.csv?${new URLSearchParams({ from, to }).toString()}`;
  return page(
    "Ledger",
    html`<div class="title-row">
  <h1>Ledger</h1>
  <form method="get" action="/dashboard/ledger" class="inline">
    <label>From <input type="date" name="from" value="${from}" required></label>
    <label>To <input type="date" name="to" value="${to}" required></label>
    <button type="submit">Show</button>
  </form>
  <a class="button" href="${csv}" download>Download CSV</a>
</div>
<p class="note">Every movement of money and credit from ${from} to ${to} (UTC days), oldest first.${
      ledger.more ? html` Only the first ${ledger.entries.length} are shown here; the CSV has them all.` : ""
    }</p>
<div class="table-scroll"><table class="list">
  <thead><tr><th>When</th><th>Book</th><th>Kind</th><th>Category</th><th>Amount</th><th>User</th><th>Task</th><th>Reference</th><th>Reason</th></tr></thead>
  <tbody>${
    ledger.entries.length === 0
      ? html`<tr><td colspan="9" class="empty">Nothing booked in these days.</td></tr>`
      : ledger.entries.map(
          (entry) => html`<tr>
    <td>${when(entry.occurredAt)}</td>
    <td>${entry.book}</td>
    <td>${entry.kind}</td>
    <td>${entry.category}</td>
    <td class="number">${entry.currency === "usd" ? money(entry.amount) : html`${money(entry.amount)} ${entry.currency.toUpperCase()}`}</td>
    <td>${entry.userId ?? "–"}</td>
    <td>${entry.taskId === null ? "–" : html`<a href="/dashboard/tasks/${entry.taskId}">${entry.taskId}</a>`}</td>
    <td class="reference">${entry.reference ?? "–"}</td>
    <td>${entry.reason ?? "–"}</td>
  </tr>`,
        )
  }</tbody>
</table></div>`,
    { section: "ledger", chrome },
  );
}
