import { MicroCheckoutBody, startMicroPaymentCheckout } from "@aitasks/billing";
import { CheckoutSession } from "@aitasks/contract";
import type { FastifyInstance } from "fastify";
import type { AppDeps } from "../../deps.js";
import { parseInput } from "../../http/parse-input.js";
import { contract } from "../../http/route-contract.js";

export function createMicroCheckoutRoute(app: FastifyInstance, deps: Pick<AppDeps, "db" | "stripe" | "checkout">) {
  app.post(
    "/payment/micro",
    contract({
      id: "createMicroCheckout",
      tag: "Payments",
      summary: "Start a Stripe Checkout for a one-off payment",
      body: MicroCheckoutBody,
      responses: {
        200: CheckoutSession,
        403: "a user key asked for another user",
        404: "no such user",
        502: "Stripe refused the request",
        503: "payments are not configured (STRIPE_SECRET_KEY), or Postgres is unavailable",
      },
    }),
    async (request) => {
      const body = parseInput(MicroCheckoutBody, request.body);
      const { checkoutUrl } = await startMicroPaymentCheckout(
        { ...deps, principal: request.principal },
        {
          user: body.user_id,
          description: body.description,
        },
      );
      return { checkout_url: checkoutUrl };
    },
  );
}
