import type { Database } from "@aitasks/db";
import type { Queues } from "@aitasks/queue";
import type { FastifyReply } from "fastify";
import type { DashboardSessions } from "./session.js";

/**
 * What the dashboard and the queue board use of the API's dependencies (`AppDeps` has them all).
 * Declared here rather than picked from `AppDeps`: deps.ts builds the dashboard's sessions, so the
 * dashboard importing deps.ts back would make the two folders a loop.
 */
export interface DashboardDeps {
  db: Database;
  /** Where the overview, lists and the ledger are read (a replica, or `db`); a single task is read from `db`. */
  readDb: Database;
  queues: Queues;
  dashboardSessions: DashboardSessions;
  /** Counts a wrong admin key from an address; throws once it has sent too many this minute. */
  signInFailures: { recordFailure(ip: string, reply: FastifyReply): Promise<void> };
  announceCanceled: (taskId: number) => Promise<void>;
  enqueueCallback: (taskId: number) => Promise<void>;
}
