import { Readable } from "node:stream";
import { type LedgerEntry, listLedger } from "@aitasks/reports";
import type { FastifyInstance } from "fastify";
import { parseInput } from "../../http/parse-input.js";
import { ledgerCsvFileName, toLedgerCsv } from "../../views/ledger.js";
import type { DashboardDeps } from "../dashboard-deps.js";
import { ledgerPage } from "../pages/ledger.js";
import { LedgerQuery } from "../queries.js";
import { chromeOf, sendPage } from "../send-page.js";

/** The ledger page shows this many entries; the CSV has all. */
const LEDGER_ROWS_SHOWN = 500;

/** GET /dashboard/ledger and /dashboard/ledger.csv: the money ledger over a range of days. */
export function ledgerRoutes(app: FastifyInstance, deps: Pick<DashboardDeps, "readDb" | "dashboardSessions">) {
  app.get("/ledger", async (request, reply) => {
    const { from, to } = parseInput(LedgerQuery, request.query);
    const entries: LedgerEntry[] = [];
    let more = false;
    for await (const entry of await listLedger({ db: deps.readDb, principal: request.principal }, { from, to })) {
      if (entries.length === LEDGER_ROWS_SHOWN) {
        more = true;
        break;
      }
      entries.push(entry);
    }
    return sendPage(
      reply,
      200,
      ledgerPage({ range: { from, to }, entries, more }, chromeOf(deps.dashboardSessions, request)),
    );
  });
  app.get("/ledger.csv", async (request, reply) => {
    const { from, to } = parseInput(LedgerQuery, request.query);
    const entries = await listLedger({ db: deps.readDb, principal: request.principal }, { from, to });
    reply
      .header("content-type", "text/csv; charset=utf-8")
      .header("content-disposition", `attachment; filename="${ledgerCsvFileName({ from, to })}"`);
    if (request.method === "HEAD") return reply.send();
    return reply.send(Readable.from(toLedgerCsv(entries)));
  });
}
