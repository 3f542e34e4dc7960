import { SubscriptionCheckoutBody, startSubscriptionCheckout } from "@aitasks/billing";
import type { FastifyInstance } from "fastify";
import type { AppDeps } from "../../deps.js";
import { parseInput } from "../../http/parse-input.js";

export function createSubscriptionCheckoutRoute(
  app: FastifyInstance,
  deps: Pick<AppDeps, "db" | "stripe" | "checkout">,
) {
  app.post("/payment/subscription", async (request) => {
    const { email } = parseInput(SubscriptionCheckoutBody, request.body);
    const { checkoutUrl } = await startSubscriptionCheckout({ ...deps, principal: request.principal }, email);
    return { checkout_url: checkoutUrl };
  });
}
