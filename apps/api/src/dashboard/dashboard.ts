import { NotFoundError } from "@aitasks/errors";
import type { FastifyError, FastifyInstance } from "fastify";
import { answerMethodNotAllowed, describeError } from "../http/errors.js";
import type { DashboardDeps } from "./dashboard-deps.js";
import { messagePage } from "./pages/layout.js";
import { signInPage } from "./pages/sign-in.js";
import { SignInQuery } from "./queries.js";
import { assetRoutes } from "./routes/assets.js";
import { ledgerRoutes } from "./routes/ledger.js";
import { overviewRoute } from "./routes/overview.js";
import { signInRoutes } from "./routes/sign-in.js";
import { taskRoutes } from "./routes/tasks.js";
import { usersRoute } from "./routes/users.js";
import { isSameOrigin } from "./same-origin.js";
import { chromeOf, plainHttpHostOf, sendPage } from "./send-page.js";

/** A longer URL is nothing the dashboard's own links make. */
const MAX_URL_LENGTH = 4096;

// helmet's CSP allows styles from any https origin; the dashboard takes everything from itself.
const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join("; ");

/**
 * The operator's dashboard at /dashboard: server-rendered pages over the same domain functions the
 * API uses, for an operator signed in with an admin key (a session cookie), or anyone in open mode.
 * Here what every page shares (headers, the session check, form bodies, error pages); each page's
 * routes are in routes/.
 */
export async function dashboardRoutes(app: FastifyInstance, deps: DashboardDeps) {
  const sessions = deps.dashboardSessions;

  app.decorateRequest("principal", null as never);

  // Form posts: `application/x-www-form-urlencoded`, small. Other bodies are refused (415).
  app.addContentTypeParser(
    "application/x-www-form-urlencoded",
    { parseAs: "string", bodyLimit: 16_384 },
    (_request, body, done) => done(null, Object.fromEntries(new URLSearchParams(body as string))),
  );

  app.addHook("onRequest", async (request, reply) => {
    reply
      .header("content-security-policy", CONTENT_SECURITY_POLICY)
      .header("cache-control", "no-store")
      .header("referrer-policy", "same-origin");
    if (request.url.length > MAX_URL_LENGTH) {
      return sendPage(
        reply,
        414,
        messagePage(414, "Address too long", "This address is longer than any page of the dashboard."),
      );
    }
    if (request.method !== "GET" && request.method !== "HEAD" && !isSameOrigin(request)) {
      return sendPage(reply, 403, messagePage(403, "Refused", "This form was sent from another site."));
    }
    const path = request.url.split("?")[0] ?? "";
    if (path === "/dashboard/sign-in" || path.startsWith("/dashboard/assets/")) return;
    const principal = await sessions.principalOf(request);
    if (!principal) {
      const next = request.method === "GET" ? request.url : "/dashboard";
      return sendPage(
        reply,
        401,
        signInPage({
          next: SignInQuery.parse({ next }).next,
          problem: request.headers.cookie?.includes("__Host-aitasks-session=")
            ? "Your session has ended (signed out, expired, or not valid here). Sign in again."
            : undefined,
          plainHttpHost: plainHttpHostOf(request),
        }),
      );
    }
    request.principal = principal;
  });

  app.setErrorHandler((error: FastifyError, request, reply) => {
    const { status, message } = describeError(error, request);
    if (error instanceof NotFoundError)
      return sendPage(reply, 404, messagePage(404, "Not found", message, { chrome: chromeOf(sessions, request) }));
    const title =
      status === 400
        ? "Not a valid request"
        : status === 429
          ? "Too many attempts"
          : status >= 500
            ? "Something went wrong"
            : "Refused";
    return sendPage(
      reply,
      status,
      messagePage(status, title, message, request.principal ? { chrome: chromeOf(sessions, request) } : {}),
    );
  });
  app.setNotFoundHandler(
    (request, reply) =>
      answerMethodNotAllowed(request, reply) ??
      sendPage(
        reply,
        404,
        messagePage(
          404,
          "Not found",
          `The dashboard has no page ${request.url.split("?")[0]}.`,
          request.principal ? { chrome: chromeOf(sessions, request) } : {},
        ),
      ),
  );

  assetRoutes(app);
  signInRoutes(app, deps);
  overviewRoute(app, deps);
  taskRoutes(app, deps);
  usersRoute(app, deps);
  ledgerRoutes(app, deps);
}
