import type { FastifyInstance } from "fastify";
import type { DashboardDeps } from "../dashboard-deps.js";
import { requireFormToken } from "../form-token.js";
import { signedInWithoutCookiePage, signInPage } from "../pages/sign-in.js";
import { SignInForm, SignInQuery } from "../queries.js";
import { plainHttpHostOf, sendPage } from "../send-page.js";

/** GET and POST /dashboard/sign-in, POST /dashboard/sign-out: the session cookie, given for an admin key. */
export function signInRoutes(app: FastifyInstance, deps: Pick<DashboardDeps, "dashboardSessions" | "signInFailures">) {
  const sessions = deps.dashboardSessions;
  app.get("/sign-in", async (request, reply) => {
    const { next } = SignInQuery.parse(request.query ?? {});
    if (sessions.open || (await sessions.principalOf(request))) return reply.redirect(next, 303);
    return sendPage(reply, 200, signInPage({ next, plainHttpHost: plainHttpHostOf(request) }));
  });
  app.post("/sign-in", async (request, reply) => {
    const form = SignInForm.safeParse(request.body ?? {});
    const next = SignInQuery.parse({ next: (request.body as { next?: unknown } | undefined)?.next }).next;
    if (sessions.open) return reply.redirect(next, 303);
    if (form.success && (await sessions.signIn(reply, form.data.key))) {
      // A redirect would land back on this form, without a word, once the browser drops the cookie.
      const host = plainHttpHostOf(request);
      if (host === undefined) return reply.redirect(form.data.next, 303);
      return sendPage(reply, 200, signedInWithoutCookiePage({ next: form.data.next, host }));
    }
    // Counted only now: the right key signs in whatever wrong ones its address sent before.
    await deps.signInFailures?.recordFailure(request.ip, reply);
    return sendPage(
      reply,
      401,
      signInPage({
        next,
        problem: form.success ? "This is not an admin key." : "Enter an admin key.",
        plainHttpHost: plainHttpHostOf(request),
      }),
    );
  });
  app.post("/sign-out", async (request, reply) => {
    requireFormToken(sessions, request);
    await sessions.signOut(request, reply);
    return reply.redirect("/dashboard/sign-in", 303);
  });
}
