import { Readable } from "node:stream";
import { Ledger } from "@aitasks/contract";
import { LedgerQuery, listLedger } from "@aitasks/reports";
import type { FastifyInstance } from "fastify";
import type { AppDeps } from "../../deps.js";
import { parseInput } from "../../http/parse-input.js";
import { contract } from "../../http/route-contract.js";
import { ledgerCsvFileName, toLedgerCsv, toLedgerJson } from "../../views/ledger.js";

/** Whether `Accept` ranks text/csv above application/json (by q, then by order). Naming neither: JSON. */
function prefersCsv(accept = ""): boolean {
  let best = { csv: false, q: 0 };
  for (const range of accept.split(",")) {
    const [type, ...parameters] = range.split(";").map((part) => part.trim().toLowerCase());
    if (type !== "text/csv" && type !== "application/json") continue;
    const q = Number(parameters.find((parameter) => parameter.startsWith("q="))?.slice(2) ?? 1);
    if (q > best.q) best = { csv: type === "text/csv", q };
  }
  return best.csv;
}

export function getLedgerRoute(app: FastifyInstance, deps: Pick<AppDeps, "db">) {
  app.get(
    "/ledger",
    contract({
      id: "getLedger",
      tag: "Reports",
      summary: "Every movement of money and credit in a range of days, as JSON or CSV",
      query: LedgerQuery,
      headers: ["Accept"],
      responses: {
        200: {
          description: "the entries, oldest first; CSV with ?format=csv or Accept: text/csv",
          schema: Ledger,
          content: { "text/csv": undefined },
          headers: ["Content-Disposition"],
          // Written as the entries are read (views/ledger.ts), never held whole for a serializer.
          streamed: true,
        },
        403: "a user key: the ledger needs an admin key",
      },
    }),
    async (request, reply) => {
      const { from, to, format } = parseInput(LedgerQuery, request.query);
      const csv = format ? format === "csv" : prefersCsv(request.headers.accept);
      const entries = await listLedger({ db: deps.db, principal: request.principal }, { from, to });
      reply.header("vary", "accept");
      if (csv) {
        reply
          .header("content-type", "text/csv; charset=utf-8")
          .header("content-disposition", `attachment; filename="${ledgerCsvFileName({ from, to })}"`);
      } else {
        reply.header("content-type", "application/json; charset=utf-8");
      }
      // HEAD (which Fastify serves from this route) gets the headers only: the rest is not read.
      if (request.method === "HEAD") return reply.send();
      // Read and sent a page at a time; a client that leaves destroys the stream, and the reading stops.
      return reply.send(Readable.from(csv ? toLedgerCsv(entries) : toLedgerJson({ from, to }, entries)));
    },
  );
}
