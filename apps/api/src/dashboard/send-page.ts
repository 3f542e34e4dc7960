import type { FastifyReply, FastifyRequest } from "fastify";
import type { Html } from "./html.js";
import type { Chrome } from "./pages/layout.js";
import { dropsSecureCookies } from "./secure-context.js";
import type { DashboardSessions } from "./session.js";

export const sendPage = (reply: FastifyReply, status: number, body: Html) =>
  reply.code(status).type("text/html; charset=utf-8").send(body.text);

/** What the layout around every page needs of the session: its form token, and whether this is open mode. */
export const chromeOf = (sessions: DashboardSessions, request: FastifyRequest): Chrome => ({
  csrfToken: sessions.csrfTokenOf(request),
  open: sessions.open,
});

/** The host to name when the browser will drop the session cookie (plain HTTP, not loopback). */
export const plainHttpHostOf = (request: FastifyRequest) =>
  dropsSecureCookies(request) ? (request.headers.host ?? "") : undefined;
