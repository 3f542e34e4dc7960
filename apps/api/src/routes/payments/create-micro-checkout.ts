import { startMicroPaymentCheckout } from "@aitasks/billing";
import { ForbiddenError } from "@aitasks/errors";
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import type { AppDeps } from "../../app.js";
import { parseInput } from "../../http/parse-input.js";

// Text a lookup or Stripe cannot take as sent: Postgres refuses NUL (a 500 otherwise), a lone surrogate
// turns into U+FFFD in a query and makes the Stripe SDK's form encoding throw (a 500 too).
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

export const MicroCheckoutBody = z.object(
  {
    // The numeric user id, or the identifier string the user's tasks carry.
    user_id: z.union(
      [
        z.number().int().positive().max(Number.MAX_SAFE_INTEGER),
        z
          .string()
          .min(1)
          .max(320)
          .refine((id) => !id.includes("\u0000"), "user_id must not contain NUL characters")
          .refine((id) => !LONE_SURROGATE.test(id), "user_id must be valid Unicode (it has a lone surrogate)"),
      ],
      { error: "user_id is required: a numeric user id or the user's identifier" },
    ),
    description: z
      .string({ error: "description must be a string" })
      .min(1, "description must not be empty")
      .max(500, "description must be at most 500 characters")
      .refine((text) => !LONE_SURROGATE.test(text), "description must be valid Unicode (it has a lone surrogate)")
      .optional(),
  },
  { error: "body must be a JSON object" },
);

export function createMicroCheckoutRoute(app: FastifyInstance, deps: AppDeps) {
  app.post("/payment/micro", async (request) => {
    const body = parseInput(MicroCheckoutBody, request.body);
    const { principal } = request;
    if (principal.role === "user" && body.user_id !== principal.userId && body.user_id !== principal.identifier) {
      throw new ForbiddenError("a user API key may only start payments for its own user");
    }
    const { checkoutUrl } = await startMicroPaymentCheckout(deps, {
      user: body.user_id,
      description: body.description,
    });
    return { checkout_url: checkoutUrl };
  });
}
