import { MicroCheckoutBody, startMicroPaymentCheckout } from "@aitasks/billing";
import type { FastifyInstance } from "fastify";
import type { AppDeps } from "../../deps.js";
import { parseInput } from "../../http/parse-input.js";

export function createMicroCheckoutRoute(app: FastifyInstance, deps: Pick<AppDeps, "db" | "stripe" | "checkout">) {
  app.post("/payment/micro", async (request) => {
    const body = parseInput(MicroCheckoutBody, request.body);
    const { checkoutUrl } = await startMicroPaymentCheckout(
      { ...deps, principal: request.principal },
      {
        user: body.user_id,
        description: body.description,
      },
    );
    return { checkout_url: checkoutUrl };
  });
}
