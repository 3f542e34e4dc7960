import { startMicroPaymentCheckout } from "@aitasks/billing";
import { storableText, UserIdentifier } from "@aitasks/tasks";
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import type { AppDeps } from "../../deps.js";
import { parseInput } from "../../http/parse-input.js";

// Text that Postgres and Stripe's form encoding take exactly as sent (no NUL, no lone surrogate).
export const MicroCheckoutBody = z.object(
  {
    // The numeric user id, or the identifier string the user's tasks carry.
    user_id: z.union([z.number().int().positive().max(Number.MAX_SAFE_INTEGER), UserIdentifier], {
      error: "user_id is required: a numeric user id or the user's identifier",
    }),
    description: storableText("description")
      .min(1, "description must not be empty")
      .max(500, "description must be at most 500 characters")
      .optional(),
  },
  { error: "body must be a JSON object" },
);

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
