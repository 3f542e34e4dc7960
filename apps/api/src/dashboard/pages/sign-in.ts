import { html } from "../html.js";
import { page } from "./layout.js";

/** Why signing in here cannot last: the page came over plain HTTP at `host`, not a loopback name. */
const plainHttpNotice = (host: string) => html`<p class="notice" role="note" data-notice="plain-http">
    This page came over plain HTTP at <code>${host}</code>. Browsers keep the sign-in cookie only over
    HTTPS (or at localhost), so even the right key would bring you back here. Serve the dashboard
    behind TLS, or reach it at localhost (through an SSH tunnel, say).</p>`;

/**
 * The sign-in form; `next` is where a successful sign-in goes (a dashboard path only). `plainHttpHost`:
 * the request came over plain HTTP at that host, where the session cookie would be dropped.
 */
export function signInPage(options: {
  next: string;
  problem?: string | undefined;
  plainHttpHost?: string | undefined;
}) {
  return page(
    "Sign in",
    html`<section class="sign-in">
  <h1>Sign in</h1>
  <p>Sign in with an admin API key (<code>ADMIN_API_KEY</code>). The session lasts until you sign out or it expires.</p>
  ${options.plainHttpHost === undefined ? "" : plainHttpNotice(options.plainHttpHost)}
  ${options.problem ? html`<p class="problem" role="alert">${options.problem}</p>` : ""}
  <form method="post" action="/dashboard/sign-in">
    <input type="hidden" name="next" value="${options.next}">
    <label>Admin key <input type="password" name="key" autocomplete="current-password" required autofocus></label>
    <button type="submit">Sign in</button>
  </form>
</section>`,
  );
}

/**
 * The answer to a right key over plain HTTP, instead of a redirect back to the sign-in form: the
 * browser has dropped the cookie it was just given. The link is there should it have kept it.
 */
export function signedInWithoutCookiePage(options: { next: string; host: string }) {
  return page(
    "Sign-in needs HTTPS",
    html`<section class="message" data-status="200">
  <h1>Sign-in needs HTTPS</h1>
  <p class="problem" role="alert">The key is right, but your browser will not keep the session: this
    page came over plain HTTP at <code>${options.host}</code>, and browsers keep the sign-in cookie only
    over HTTPS (or at localhost).</p>
  <p>Serve the dashboard behind TLS, or reach it at localhost (through an SSH tunnel, say), and sign in there.</p>
  <p><a href="${options.next}">Go on to the dashboard anyway</a></p>
</section>`,
  );
}
