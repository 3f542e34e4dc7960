import { html } from "../html.js";
import { page } from "./layout.js";

/** The sign-in form; `next` is where a successful sign-in goes (a dashboard path only). */
export function signInPage(options: { next: string; problem?: string }) {
  return page(
    "Sign in",
    html`<section class="sign-in">
  <h1>Sign in</h1>
  <p>Sign in with an admin API key (<code>ADMIN_API_KEY</code>). The session lasts until you sign out or it expires.</p>
  ${options.problem ? html`<p class="problem" role="alert">${options.problem}</p>` : ""}
  <form method="post" action="/dashboard/sign-in">
    <input type="hidden" name="next" value="${options.next}">
    <label>Admin key <input type="password" name="key" autocomplete="current-password" required autofocus></label>
    <button type="submit">Sign in</button>
  </form>
</section>`,
  );
}
