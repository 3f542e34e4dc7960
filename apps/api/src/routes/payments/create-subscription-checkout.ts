import { startSubscriptionCheckout } from "@aitasks/billing";
import { ForbiddenError } from "@aitasks/errors";
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
    const { principal } = request;
    // The checkout is for the user whose identifier is the lower-cased email: a user key may start it only if
    // that user is its own (an identifier with capitals is another user row, perhaps someone else's).
    if (principal.role === "user" && principal.identifier !== email.toLowerCase()) {
      throw new ForbiddenError("a user API key may only start payments for its own user");
    }
    const { checkoutUrl } = await startSubscriptionCheckout(deps, email.toLowerCase());
    return { checkout_url: checkoutUrl };
  });
}
