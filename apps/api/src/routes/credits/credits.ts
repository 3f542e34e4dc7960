import { BalanceQuery, CreditGrantBody, getBalance, grantCredit } from "@aitasks/billing";
import type { FastifyInstance } from "fastify";
import type { AppDeps } from "../../deps.js";
import { parseInput } from "../../http/parse-input.js";
import { toBalanceView, toCreditEntryView } from "../../views/credits.js";

/** Prepaid credit: a balance (a user key: its own), and an admin's grants and take-backs. */
export function creditRoutes(app: FastifyInstance, deps: Pick<AppDeps, "db">) {
  app.get("/balance", async (request) => {
    const { user_id } = parseInput(BalanceQuery, request.query);
    return toBalanceView(await getBalance({ db: deps.db, principal: request.principal }, user_id));
  });
  app.post("/credits", async (request, reply) => {
    const grant = parseInput(CreditGrantBody, request.body);
    const { entry, balance } = await grantCredit({ db: deps.db, principal: request.principal }, grant);
    return reply
      .code(201)
      .send({ ...toCreditEntryView(entry, balance.userIdentifier), balance: toBalanceView(balance) });
  });
}
