import { startMicroPaymentCheckout } from "@aitasks/billing";
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import type { AppDeps } from "../../app.js";
import { parseInput } from "../../http/parse-input.js";

export const MicroCheckoutBody = z.object(
  {
    // The numeric user id, or the identifier string the user's tasks carry.
    user_id: z.union([z.number().int().positive().max(Number.MAX_SAFE_INTEGER), z.string().min(1).max(320)], {
      error: "user_id is required: a numeric user id or the user's identifier",
    }),
    description: z
      .string({ error: "description must be a string" })
      .min(1, "description must not be empty")
      .max(500, "description must be at most 500 characters")
      .optional(),
  },
  { error: "body must be a JSON object" },
);

export function createMicroCheckoutRoute(app: FastifyInstance, deps: AppDeps) {
  app.post("/payment/micro", async (request) => {
    const body = parseInput(MicroCheckoutBody, request.body);
    const { checkoutUrl } = await startMicroPaymentCheckout(deps, {
      user: body.user_id,
      description: body.description,
    });
    return { checkout_url: checkoutUrl };
  });
}
