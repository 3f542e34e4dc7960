import { existsSync, readFileSync } from "node:fs";
import { Readable } from "node:stream";
import { fileURLToPath } from "node:url";
import { ForbiddenError, NotFoundError } from "@aitasks/errors";
import { withTimeout } from "@aitasks/metrics";
import { countQueueJobs } from "@aitasks/queue";
import { getDailySeries, getReport, type LedgerEntry, listLedger, listUserUsage } from "@aitasks/reports";
import { cancelTask, getTask, listTasks, TaskFinishedError, TaskIdParams } from "@aitasks/tasks";
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { AppDeps } from "../deps.js";
import { answerMethodNotAllowed, describeError } from "../http/errors.js";
import { parseInput } from "../http/parse-input.js";
import { ledgerCsvFileName, toLedgerCsv } from "../views/ledger.js";
import type { Html } from "./html.js";
import { type Chrome, messagePage } from "./pages/layout.js";
import { ledgerPage } from "./pages/ledger.js";
import { overviewPage } from "./pages/overview.js";
import { signedInWithoutCookiePage, signInPage } from "./pages/sign-in.js";
import { taskPage, tasksPage } from "./pages/tasks.js";
import { usersPage } from "./pages/users.js";
import {
  GuardedForm,
  LedgerQuery,
  OpenTaskQuery,
  OverviewQuery,
  SignInForm,
  SignInQuery,
  TasksQuery,
  UsersQuery,
} from "./queries.js";
import { isSameOrigin } from "./same-origin.js";
import { dropsSecureCookies } from "./secure-context.js";

export type DashboardDeps = Pick<
  AppDeps,
  "db" | "readDb" | "queues" | "dashboardSessions" | "signInFailures" | "announceCanceled" | "enqueueCallback"
>;

/** The overview's charts cover this many days. */
const CHART_DAYS = 30;
/** The users page lists at most this many; the ledger page shows this many entries (the CSV has all). */
const USERS_SHOWN = 200;
const LEDGER_ROWS_SHOWN = 500;
/** A longer URL is nothing the dashboard's own links make. */
const MAX_URL_LENGTH = 4096;
/** The queues' depth is left out of the overview rather than hold it longer than this. */
const QUEUE_COUNT_TIMEOUT_MS = 2000;

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

const ASSETS: Record<string, string> = {
  "dashboard.css": "text/css; charset=utf-8",
  "charts.js": "text/javascript; charset=utf-8",
};

/**
 * Where `npm run build` puts the assets: dist/dashboard/assets, found from dist/api/main.mjs in
 * production and from this source file under the tests.
 */
function assetsDirectory(): string | undefined {
  return [
    new URL("../dashboard/assets/", import.meta.url),
    new URL("../../../../dist/dashboard/assets/", import.meta.url),
  ]
    .map((url) => fileURLToPath(url))
    .find((path) => existsSync(`${path}charts.js`));
}

const today = () => new Date().toISOString().slice(0, 10);

/**
 * The operator's dashboard at /dashboard: server-rendered pages over the same domain functions the
 * API uses, for an operator signed in with an admin key (a session cookie), or anyone in open mode.
 */
export async function dashboardRoutes(app: FastifyInstance, deps: DashboardDeps) {
  const sessions = deps.dashboardSessions;
  const admin = (db: DashboardDeps["db"], request: FastifyRequest) => ({ db, principal: request.principal });
  const chromeOf = (request: FastifyRequest): Chrome => ({
    csrfToken: sessions.csrfTokenOf(request),
    open: sessions.open,
  });
  const sendPage = (reply: FastifyReply, status: number, body: Html) =>
    reply.code(status).type("text/html; charset=utf-8").send(body.text);
  /** The host to name when the browser will drop the session cookie (plain HTTP, not loopback). */
  const plainHttpHostOf = (request: FastifyRequest) =>
    dropsSecureCookies(request) ? (request.headers.host ?? "") : undefined;

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
      return sendPage(reply, 404, messagePage(404, "Not found", message, { chrome: chromeOf(request) }));
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
      messagePage(status, title, message, request.principal ? { chrome: chromeOf(request) } : {}),
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
          request.principal ? { chrome: chromeOf(request) } : {},
        ),
      ),
  );

  // Looked up once: `npm run build` has run before the API starts (npm start, the tests' setup).
  const directory = assetsDirectory();
  app.get("/assets/:name", async (request, reply) => {
    const name = (request.params as { name: string }).name;
    const type = ASSETS[name];
    if (!type || !directory) throw new NotFoundError(`no asset ${name}${directory ? "" : " (run npm run build)"}`);
    reply.header("cache-control", "public, max-age=300");
    return reply.type(type).send(readFileSync(`${directory}${name}`));
  });

  // Signing in and out.
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
    requireFormToken(request);
    await sessions.signOut(request, reply);
    return reply.redirect("/dashboard/sign-in", 303);
  });

  app.get("/", async (request, reply) => {
    const { date = today() } = parseInput(OverviewQuery, request.query);
    const context = admin(deps.readDb, request);
    const [daily, weekly, monthly, series, queues] = await Promise.all([
      getReport(context, "daily", date),
      getReport(context, "weekly", date),
      getReport(context, "monthly", date),
      getDailySeries(context, { until: date, days: CHART_DAYS }),
      withTimeout(countQueueJobs(deps.queues), QUEUE_COUNT_TIMEOUT_MS, "counting the queues' jobs").catch(
        () => undefined,
      ),
    ]);
    return sendPage(
      reply,
      200,
      overviewPage({ date, reports: { daily, weekly, monthly }, series, queues }, chromeOf(request)),
    );
  });

  app.get("/tasks", async (request, reply) => {
    const filter = parseInput(TasksQuery, request.query);
    const list = await listTasks(admin(deps.readDb, request), { ...filter, limit: 50 });
    return sendPage(reply, 200, tasksPage({ ...list, filter }, chromeOf(request)));
  });
  app.get("/tasks/open", async (request, reply) => {
    const { id } = parseInput(OpenTaskQuery, request.query);
    return reply.redirect(`/dashboard/tasks/${id}`, 303);
  });
  app.get("/tasks/:id", async (request, reply) => {
    const { id } = parseInput(TaskIdParams, request.params);
    const task = await getTask(admin(deps.db, request), id);
    const canceled = (request.query as { canceled?: string }).canceled === "1";
    return sendPage(reply, 200, taskPage(task, chromeOf(request), canceled ? "The task was canceled." : undefined));
  });
  app.post("/tasks/:id/cancel", async (request, reply) => {
    requireFormToken(request);
    const { id } = parseInput(TaskIdParams, request.params);
    const context = {
      ...admin(deps.db, request),
      onCanceled: deps.announceCanceled,
      queueCallback: deps.enqueueCallback,
    };
    try {
      await cancelTask(context, id);
    } catch (error) {
      if (!(error instanceof TaskFinishedError)) throw error;
      const task = await getTask(context, id);
      return sendPage(
        reply,
        409,
        taskPage(task, chromeOf(request), `Not canceled: the task had already ended (${task.status}).`),
      );
    }
    return reply.redirect(`/dashboard/tasks/${id}?canceled=1`, 303);
  });

  app.get("/users", async (request, reply) => {
    const { month = today().slice(0, 7) } = parseInput(UsersQuery, request.query);
    const usage = await listUserUsage(admin(deps.readDb, request), {
      type: "monthly",
      date: `${month}-01`,
      limit: USERS_SHOWN,
    });
    return sendPage(reply, 200, usersPage({ month, limit: USERS_SHOWN, ...usage }, chromeOf(request)));
  });

  app.get("/ledger", async (request, reply) => {
    const { from, to } = parseInput(LedgerQuery, request.query);
    const entries: LedgerEntry[] = [];
    let more = false;
    for await (const entry of await listLedger(admin(deps.readDb, request), { from, to })) {
      if (entries.length === LEDGER_ROWS_SHOWN) {
        more = true;
        break;
      }
      entries.push(entry);
    }
    return sendPage(reply, 200, ledgerPage({ range: { from, to }, entries, more }, chromeOf(request)));
  });
  app.get("/ledger.csv", async (request, reply) => {
    const { from, to } = parseInput(LedgerQuery, request.query);
    const entries = await listLedger(admin(deps.readDb, request), { from, to });
    reply
      .header("content-type", "text/csv; charset=utf-8")
      .header("content-disposition", `attachment; filename="${ledgerCsvFileName({ from, to })}"`);
    if (request.method === "HEAD") return reply.send();
    return reply.send(Readable.from(toLedgerCsv(entries)));
  });

  /** Forms that change something must carry this session's form token (besides SameSite=Strict and the Origin check). */
  function requireFormToken(request: FastifyRequest) {
    const { csrf } = parseInput(GuardedForm, request.body ?? {});
    if (!sessions.isCsrfTokenValid(request, csrf)) {
      throw new ForbiddenError("this form has expired or was not sent by the dashboard: reload the page and try again");
    }
  }
}
