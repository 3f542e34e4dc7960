import { ForbiddenError } from "@aitasks/errors";
import type { FastifyRequest } from "fastify";
import { parseInput } from "../http/parse-input.js";
import { GuardedForm } from "./queries.js";
import type { DashboardSessions } from "./session.js";

/** Forms that change something must carry this session's form token (besides SameSite=Strict and the Origin check). */
export function requireFormToken(sessions: DashboardSessions, request: FastifyRequest) {
  const { csrf } = parseInput(GuardedForm, request.body ?? {});
  if (!sessions.isCsrfTokenValid(request, csrf)) {
    throw new ForbiddenError("this form has expired or was not sent by the dashboard: reload the page and try again");
  }
}
