import { createBullBoard } from "@bull-board/api";
import { BullMQAdapter } from "@bull-board/api/bullMQAdapter";
import type { ControllerHandlerReturnType } from "@bull-board/api/typings/app";
import { FastifyAdapter } from "@bull-board/fastify";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { handleNotFound, isDependencyDown } from "../http/errors.js";
import type { DashboardDeps } from "./dashboard-deps.js";
import { isSameOrigin } from "./same-origin.js";

/**
 * Only our own origin. Styles may be inline: the stock page's loading spinner is a `<style>`
 * element and `style` attributes. Scripts may not: the board's config is a JSON `<script>`, which
 * the browser never executes, so `script-src 'self'` holds. No `upgrade-insecure-requests`:
 * everything is same-origin already, and it would break the board on plain http behind a proxy.
 */
const QUEUE_BOARD_CSP = [
  "default-src 'self'",
  "base-uri 'self'",
  "connect-src 'self'",
  "font-src 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "img-src 'self' data:",
  "object-src 'none'",
  "script-src 'self'",
  "script-src-attr 'none'",
  "style-src 'self' 'unsafe-inline'",
].join(";");

const UNSAFE_METHODS = new Set(["POST", "PUT", "PATCH", "DELETE"]);

/**
 * The stock page links Google Fonts. Dropping that `<link>` (any stylesheet or icon on another
 * origin) keeps the board from telling a third party who opens it and when; its CSS falls back to
 * `system-ui` and `ui-monospace`.
 */
const CROSS_ORIGIN_LINK = /<link\b[^>]*\bhref=["']?(?:https?:)?\/\/[^>]*>\s*/gi;

/**
 * GET /admin/queues: Bull Board over every queue of the service, where an operator retries and
 * removes jobs. Every request (page, assets, API) needs a dashboard session, and a request that
 * changes something must come from our own origin.
 */
export async function queueBoardRoutes(
  app: FastifyInstance,
  deps: Pick<DashboardDeps, "queues" | "dashboardSessions">,
) {
  const basePath = app.prefix;
  const serverAdapter = new FastifyAdapter().setBasePath(basePath);
  createBullBoard({
    queues: Object.values(deps.queues).map((queue) => new BullMQAdapter(queue)),
    serverAdapter,
    options: { uiConfig: { boardTitle: "AI tasks: queues", hideDocsLink: true } },
  });
  // After createBullBoard, which sets its own: that one echoes the error's message, and its stack
  // when NODE_ENV=development.
  serverAdapter.setErrorHandler(answerBoardError);

  app.addHook("onRequest", async (request, reply) => {
    if ((await deps.dashboardSessions.principalOf(request)) === undefined) {
      return isBoardApi(request, basePath)
        ? refuseApi(reply, 401, "sign in to the dashboard first")
        : refusePage(reply);
    }
    if (UNSAFE_METHODS.has(request.method) && !isSameOrigin(request)) {
      return refuseApi(reply, 403, "this change must come from the queue board's own page");
    }
  });
  app.addHook("onSend", async (_request, reply, payload) => {
    reply.header("content-security-policy", QUEUE_BOARD_CSP);
    const type = String(reply.getHeader("content-type") ?? "");
    return typeof payload === "string" && type.startsWith("text/html")
      ? payload.replace(CROSS_ORIGIN_LINK, "")
      : payload;
  });
  // Bull Board's error handler sees only the error: its cause is logged here, with the request.
  app.addHook("onError", async (request, _reply, error) => {
    if (!isClientError(error)) request.log.error({ err: error }, "queue board error");
  });
  // Unknown paths under /admin/queues pass the session check too (this scope's hooks run for them).
  app.setNotFoundHandler(handleNotFound);

  await app.register(serverAdapter.registerPlugin());
}

const isBoardApi = (request: FastifyRequest, basePath: string) =>
  request.url.startsWith(`${basePath}/api/`) || request.url.split("?")[0] === `${basePath}/api`;

function refuseApi(reply: FastifyReply, status: 401 | 403, message: string) {
  return reply
    .code(status)
    .type("application/json; charset=utf-8")
    .send({ error: message, code: status === 401 ? "UNAUTHORIZED" : "FORBIDDEN", request_id: reply.request.id });
}

const SIGN_IN_PAGE = `<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><meta name="robots" content="noindex"><link rel="icon" href="data:,"><title>Sign in first</title></head>
<body>
<h1>Sign in to the dashboard first</h1>
<p>The queue board is for signed-in operators. <a href="/dashboard/sign-in?next=/admin/queues">Sign in to the dashboard</a>, then come back.</p>
</body>
</html>
`;

function refusePage(reply: FastifyReply) {
  return reply.code(401).type("text/html; charset=utf-8").send(SIGN_IN_PAGE);
}

/** Fastify's refusals of a request (a body that is not JSON, too large): their message is safe to show. */
const isClientError = (error: Error & { statusCode?: number }) =>
  error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500;

/** Bull Board's type of a status lists no 503; its Fastify adapter sends whichever it is given. */
const UNAVAILABLE = 503 as number as NonNullable<ControllerHandlerReturnType["status"]>;

/**
 * In Bull Board's error shape (a translation key the UI shows), without internals. Its statuses
 * stop at 400 for a client's fault: a 413 or 415 from Fastify is answered 400 with its message.
 */
function answerBoardError(error: Error & { statusCode?: number }): ControllerHandlerReturnType {
  if (isClientError(error)) {
    return { status: 400, body: { error: { key: "ERRORS.INVALID_REQUEST_BODY" }, message: error.message } };
  }
  // Redis away is not our fault, and passes: 503, as the rest of the service answers it.
  if (isDependencyDown(error)) {
    return {
      status: UNAVAILABLE,
      body: {
        error: { key: "ERRORS.INTERNAL_SERVER_ERROR" },
        message: "the queues (Redis) are unavailable; try again shortly",
      },
    };
  }
  return {
    status: 500,
    body: { error: { key: "ERRORS.INTERNAL_SERVER_ERROR" }, message: "internal error; it has been logged" },
  };
}
