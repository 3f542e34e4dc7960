import { SubscriptionCheckoutBody, startSubscriptionCheckout } from "@aitasks/billing";
import { CheckoutSession } from "@aitasks/contract";
import type { FastifyInstance } from "fastify";
import type { AppDeps } from "../../deps.js";
import { parseInput } from "../../http/parse-input.js";
import { contract } from "../../http/route-contract.js";

export function createSubscriptionCheckoutRoute(
  app: FastifyInstance,
  deps: Pick<AppDeps, "db" | "stripe" | "checkout">,
) {
  app.post(
    "/payment/subscription",
    contract({
      id: "createSubscriptionCheckout",
      tag: "Payments",
      summary: "Start a Stripe Checkout for a subscription",
      body: SubscriptionCheckoutBody,
      responses: {
        200: CheckoutSession,
        403: "a user key asked for another user",
        502: "Stripe refused the request",
        503: "payments or subscriptions are not configured (STRIPE_SECRET_KEY, STRIPE_SUBSCRIPTION_PRICE_ID), or Postgres is unavailable",
      },
    }),
    async (request) => {
      const { email } = parseInput(SubscriptionCheckoutBody, request.body);
      const { checkoutUrl } = await startSubscriptionCheckout({ ...deps, principal: request.principal }, email);
      return { checkout_url: checkoutUrl };
    },
  );
}
