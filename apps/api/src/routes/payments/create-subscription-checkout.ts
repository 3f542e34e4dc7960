import { startSubscriptionCheckout } from "@aitasks/billing";
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import type { AppDeps } from "../../deps.js";
import { parseInput } from "../../http/parse-input.js";

export const SubscriptionCheckoutBody = z.object(
  { email: z.email({ error: "email must be a valid email address" }).max(320, "email is too long") },
  { error: "body must be a JSON object" },
);

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
