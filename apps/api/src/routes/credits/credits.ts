import { Balance, CreditGrant } from "@aitasks/contract";
import { BalanceQuery, CreditGrantBody, getBalance, grantCredit } from "@aitasks/ledger";
import type { FastifyInstance } from "fastify";
import type { AppDeps } from "../../deps.js";
import { parseInput } from "../../http/parse-input.js";
import { contract } from "../../http/route-contract.js";
import { toBalanceView, toCreditEntryView } from "../../views/credits.js";

/** Prepaid credit: a balance (a user key: its own), and an admin's grants and take-backs. */
export function creditRoutes(app: FastifyInstance, deps: Pick<AppDeps, "db">) {
  app.get(
    "/balance",
    contract({
      id: "getBalance",
      tag: "Credit",
      summary: "A user's prepaid credit",
      query: BalanceQuery,
      responses: { 200: Balance, 403: "a user key asked for another user's balance", 404: "no such user" },
    }),
    async (request) => {
      const { user_id } = parseInput(BalanceQuery, request.query);
      return toBalanceView(await getBalance({ db: deps.db, principal: request.principal }, user_id));
    },
  );
  app.post(
    "/credits",
    contract({
      id: "grantCredit",
      tag: "Credit",
      summary: "Grant credit to a user, or take it back (a negative amount)",
      body: CreditGrantBody,
      responses: { 201: CreditGrant, 403: "not an admin key", 404: "no such user" },
    }),
    async (request, reply) => {
      const grant = parseInput(CreditGrantBody, request.body);
      const { entry, balance } = await grantCredit({ db: deps.db, principal: request.principal }, grant);
      return reply
        .code(201)
        .send({ ...toCreditEntryView(entry, balance.userIdentifier), balance: toBalanceView(balance) });
    },
  );
}
