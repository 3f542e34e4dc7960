import { parseAmount } from "@aitasks/db";
import { TASK_STATUSES, type TaskRecord } from "@aitasks/tasks";
import { html } from "../html.js";
import { count, duration, exactMoney, money, when } from "./format.js";
import { type Chrome, page } from "./layout.js";

const amountOf = (numeric: string | null) => (numeric === null ? html`–` : money(parseAmount(numeric)));
const exactAmountOf = (numeric: string | null) => (numeric === null ? html`–` : exactMoney(parseAmount(numeric)));
const statusBadge = (status: string) => html`<span class="status status-${status}">${status}</span>`;

/** A list shows the error's start; the whole of it is on hover and on the task's page. */
const ERROR_SHOWN_CHARS = 120;
const errorCell = (error: string | null) =>
  error === null
    ? html`<td class="error-cell">–</td>`
    : html`<td class="error-cell" title="${error}">${
        error.length > ERROR_SHOWN_CHARS ? `${error.slice(0, ERROR_SHOWN_CHARS - 1)}…` : error
      }</td>`;

export interface TaskFilter {
  status?: string | undefined;
  user_id?: string | undefined;
}

export function tasksPage(
  list: { tasks: TaskRecord[]; nextCursor: string | null; filter: TaskFilter },
  chrome: Chrome,
) {
  const { filter } = list;
  const next = new URLSearchParams();
  if (filter.status) next.set("status", filter.status);
  if (filter.user_id) next.set("user_id", filter.user_id);
  if (list.nextCursor) next.set("cursor", list.nextCursor);
  return page(
    "Tasks",
    html`<div class="title-row">
  <h1>Tasks</h1>
  <form method="get" action="/dashboard/tasks/open" class="inline">
    <label>Open task <input type="number" name="id" min="1" required placeholder="id"></label>
    <button type="submit">Open</button>
  </form>
</div>
<form method="get" action="/dashboard/tasks" class="filters">
  <label>Status <select name="status">
    <option value="">any</option>
    ${TASK_STATUSES.map((status) => html`<option${status === filter.status ? html` selected` : ""}>${status}</option>`)}
  </select></label>
  <label>User <input type="text" name="user_id" value="${filter.user_id ?? ""}" maxlength="255"></label>
  <button type="submit">Filter</button>
</form>
<div class="table-scroll"><table class="list">
  <thead><tr><th>Id</th><th>Status</th><th>User</th><th>Model</th><th>Created</th><th>Duration</th><th>Tokens</th><th>Cost</th><th>Charged</th><th>Error</th></tr></thead>
  <tbody>${
    list.tasks.length === 0
      ? html`<tr><td colspan="10" class="empty">No tasks.</td></tr>`
      : list.tasks.map(
          (task) => html`<tr data-task-id="${task.id}">
    <td><a href="/dashboard/tasks/${task.id}">${task.id}</a></td>
    <td>${statusBadge(task.status)}</td>
    <td>${task.userIdentifier ?? "–"}</td>
    <td>${task.provider} ${task.model}</td>
    <td>${when(task.createdAt)}</td>
    <td class="number" data-column="duration">${duration(task.startedAt, task.completedAt)}</td>
    <td class="number">${task.tokensUsed === null ? "–" : count(task.tokensUsed)}</td>
    <td class="number">${amountOf(task.costUsd)}</td>
    <td class="number">${amountOf(task.chargedUsd)}</td>
    ${errorCell(task.error)}
  </tr>`,
        )
  }</tbody>
</table></div>
${list.nextCursor ? html`<p><a class="next" href="/dashboard/tasks?${next.toString()}">Older tasks →</a></p>` : ""}`,
    { section: "tasks", chrome },
  );
}

export function taskPage(task: TaskRecord, chrome: Chrome, notice?: string) {
  const cancelable = task.status === "pending" || task.status === "processing";
  const rows: [string, ReturnType<typeof html> | string | number][] = [
    ["Status", statusBadge(task.status)],
    ["User", task.userIdentifier ?? "–"],
    ["Provider and model", `${task.provider} ${task.model}`],
    ["Priority", task.priority],
    ["Attempts", task.attempts],
    ["Created", when(task.createdAt)],
    ["Started", when(task.startedAt)],
    ["Finished", when(task.completedAt)],
    ["Duration", duration(task.startedAt, task.completedAt)],
    [
      "Tokens (prompt + completion)",
      task.tokensUsed === null
        ? "–"
        : `${count(task.tokensUsed)} (${task.promptTokens ?? 0} + ${task.completionTokens ?? 0})`,
    ],
    ["Provider cost", exactAmountOf(task.costUsd)],
    ["Charged", exactAmountOf(task.chargedUsd)],
    ["Held", exactAmountOf(task.holdUsd)],
    ["Callback", task.callbackUrl ?? "–"],
  ];
  return page(
    `Task ${task.id}`,
    html`<div class="title-row">
  <h1>Task ${task.id}</h1>
  ${
    cancelable
      ? html`<form method="post" action="/dashboard/tasks/${task.id}/cancel" class="inline">
    <input type="hidden" name="csrf" value="${chrome.csrfToken}">
    <button type="submit" class="danger">Cancel task</button>
  </form>`
      : ""
  }
</div>
${notice ? html`<p class="notice" role="status">${notice}</p>` : ""}
<dl class="details">${rows.map(([label, value]) => html`<div><dt>${label}</dt><dd>${value}</dd></div>`)}</dl>
${task.error ? html`<h2>Error</h2><pre class="error">${task.error}</pre>` : ""}
<h2>Prompt</h2>
<pre class="text">${task.input}</pre>
<h2>Output</h2>
${task.output === null ? html`<p class="empty">No output yet.</p>` : html`<pre class="text">${task.output}</pre>`}`,
    { section: "tasks", chrome },
  );
}
