import { createApiKey, listApiKeys, revokeApiKey } from "@aitasks/auth";
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import type { AppDeps } from "../../deps.js";
import { parseInput } from "../../http/parse-input.js";
import { requireAdminKey } from "../../plugins/authenticate.js";

// Refused like a task's user_id: Postgres cannot take NUL (a 500 otherwise), and a lone surrogate would be
// stored as U+FFFD, giving the key to another identifier than the one asked for (and shown back).
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

export const CreateKeyBody = z.object(
  {
    user_id: z
      .string({ error: "user_id is required: the user's identifier" })
      .min(1)
      .max(320)
      .refine((id) => !id.includes("\u0000"), "user_id must not contain NUL characters")
      .refine((id) => !LONE_SURROGATE.test(id), "user_id must be valid Unicode (it has a lone surrogate)"),
  },
  { error: "body must be a JSON object" },
);
const KeyIdParams = z.object({
  id: z
    .string()
    .regex(/^[1-9]\d{0,14}$/, "key id must be a positive integer")
    .transform(Number),
});

/** Key management, with an admin key only (never in open mode): create (the key is shown once), list, revoke. */
export function keyRoutes(app: FastifyInstance, deps: Pick<AppDeps, "db">) {
  app.post("/keys", async (request, reply) => {
    requireAdminKey(request);
    const { user_id } = parseInput(CreateKeyBody, request.body);
    return reply.code(201).send(await createApiKey(deps.db, user_id));
  });
  app.get("/keys", async (request) => {
    requireAdminKey(request);
    return { keys: await listApiKeys(deps.db) };
  });
  app.delete("/keys/:id", async (request) => {
    requireAdminKey(request);
    const { id } = parseInput(KeyIdParams, request.params);
    return revokeApiKey(deps.db, id);
  });
}
