import { type Html, html } from "../html.js";

export type Section = "overview" | "tasks" | "users" | "ledger";

const SECTIONS: readonly [Section, string, string][] = [
  ["overview", "Overview", "/dashboard"],
  ["tasks", "Tasks", "/dashboard/tasks"],
  ["users", "Users", "/dashboard/users"],
  ["ledger", "Ledger", "/dashboard/ledger"],
];

/** What every signed-in page shows around its content. */
export interface Chrome {
  /** The form token sign-out (and any other form that changes something) sends back. */
  csrfToken: string;
  /** Open mode: nobody signs in, and a banner says so. */
  open: boolean;
}

export function page(
  title: string,
  body: Html,
  options: { section?: Section; chrome?: Chrome; scripts?: string[] } = {},
) {
  const { section, chrome, scripts = [] } = options;
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>${title} · AI tasks</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/dashboard/assets/dashboard.css">
${scripts.map((name) => html`<script defer src="/dashboard/assets/${name}"></script>`)}
</head>
<body>
<header class="top">
  <a class="brand" href="/dashboard">AI tasks</a>
  ${
    chrome
      ? html`<nav>${SECTIONS.map(
          ([name, label, href]) =>
            html`<a href="${href}"${name === section ? html` aria-current="page"` : ""}>${label}</a>`,
        )}<a href="/admin/queues">Queues</a></nav>
  ${
    chrome.open
      ? html`<span class="badge warn" title="ADMIN_API_KEY is not set">open mode: no sign-in</span>`
      : html`<form method="post" action="/dashboard/sign-out" class="sign-out">
    <input type="hidden" name="csrf" value="${chrome.csrfToken}">
    <button type="submit">Sign out</button>
  </form>`
  }`
      : ""
  }
</header>
<main>
${body}
</main>
</body>
</html>
`;
}

/** An answer that is not the page asked for: 401, 403, 404, 429, 400, 503. */
export function messagePage(status: number, title: string, message: string, options: { chrome?: Chrome } = {}) {
  return page(
    title,
    html`<section class="message" data-status="${status}">
  <h1>${title}</h1>
  <p>${message}</p>
  <p><a href="/dashboard">Back to the dashboard</a></p>
</section>`,
    options,
  );
}
