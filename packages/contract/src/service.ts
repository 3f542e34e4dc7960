import { z } from "zod";
import { named, Timestamp } from "./registry.js";

const Check = z.enum(["ok", "down"]);

/** GET /health: 200 healthy, 503 unhealthy with the check that is down. */
export const Health = named(
  "Health",
  z.object({
    status: z.enum(["healthy", "unhealthy"]),
    timestamp: Timestamp,
    checks: z.object({ database: Check, redis: Check }),
  }),
);
export type Health = z.infer<typeof Health>;

/** POST /api/webhook/stripe: the event was taken (applied now, before, or not a type we handle). */
export const WebhookReceived = named("WebhookReceived", z.object({ status: z.literal("success") }));
export type WebhookReceived = z.infer<typeof WebhookReceived>;
