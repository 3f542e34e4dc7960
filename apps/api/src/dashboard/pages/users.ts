import type { UserUsage } from "@aitasks/reports";
import { html } from "../html.js";
import { count, money } from "./format.js";
import { type Chrome, page } from "./layout.js";

export function usersPage(
  usage: { month: string; start: string; end: string; users: UserUsage[]; limit: number },
  chrome: Chrome,
) {
  return page(
    "Users",
    html`<div class="title-row">
  <h1>Users</h1>
  <form method="get" action="/dashboard/users" class="inline">
    <label>Month <input type="month" name="month" value="${usage.month}" required></label>
    <button type="submit">Show</button>
  </form>
</div>
<p class="note">Credit now; usage of ${usage.start} – ${usage.end} (tasks completed and provider calls made then). Largest charges first, at most ${usage.limit} users.</p>
<div class="table-scroll"><table class="list">
  <thead><tr><th>User</th><th>Email</th><th>Balance</th><th>Held</th><th>Available</th><th>Tasks</th><th>Tokens</th><th>Charged</th><th>Provider cost</th><th>Margin</th></tr></thead>
  <tbody>${
    usage.users.length === 0
      ? html`<tr><td colspan="10" class="empty">No users yet.</td></tr>`
      : usage.users.map(
          (user) => html`<tr data-user="${user.identifier}">
    <td><a href="/dashboard/tasks?user_id=${encodeURIComponent(user.identifier)}">${user.identifier}</a></td>
    <td>${user.email ?? "–"}</td>
    <td class="number">${money(user.balance)}</td>
    <td class="number">${money(user.held)}</td>
    <td class="number">${money(user.balance - user.held)}</td>
    <td class="number">${count(user.tasks)}</td>
    <td class="number">${count(user.tokens)}</td>
    <td class="number">${money(user.charged)}</td>
    <td class="number">${money(user.apiCost)}</td>
    <td class="number">${money(user.margin)}</td>
  </tr>`,
        )
  }</tbody>
</table></div>`,
    { section: "users", chrome },
  );
}
