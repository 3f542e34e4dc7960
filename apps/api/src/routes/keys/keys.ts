import { createApiKey, listApiKeys, revokeApiKey } from "@aitasks/auth";
import { ApiKey, ApiKeyList, CreatedApiKey } from "@aitasks/contract";
import { LONE_SURROGATE } from "@aitasks/db";
import { idParams } from "@aitasks/tasks";
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import type { AppDeps } from "../../deps.js";
import { parseInput } from "../../http/parse-input.js";
import { contract } from "../../http/route-contract.js";
import { toApiKeyView } from "../../views/api-keys.js";

// Refused like a task's user_id: Postgres cannot take NUL (a 500 otherwise), and a lone surrogate would be
// stored as U+FFFD, giving the key to another identifier than the one asked for (and shown back).
const CreateKeyBody = z.object(
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
const KeyIdParams = idParams("key id");

/** Key management, with an admin key only (never in open mode): create (the key is shown once), list, revoke. */
export function keyRoutes(app: FastifyInstance, deps: Pick<AppDeps, "db">) {
  const adminOnly = "not an admin key, or open mode (no ADMIN_API_KEY)";
  app.post(
    "/keys",
    contract({
      id: "createApiKey",
      tag: "Keys",
      summary: "Create a user's API key (shown this once)",
      body: CreateKeyBody,
      responses: { 201: CreatedApiKey, 403: adminOnly },
    }),
    async (request, reply) => {
      const { user_id } = parseInput(CreateKeyBody, request.body);
      const created = await createApiKey({ db: deps.db, principal: request.principal }, user_id);
      return reply.code(201).send({ ...toApiKeyView(created), key: created.key });
    },
  );
  app.get(
    "/keys",
    contract({
      id: "listApiKeys",
      tag: "Keys",
      summary: "Every API key, revoked ones included",
      responses: { 200: ApiKeyList, 403: adminOnly },
    }),
    async (request) => {
      const keys = await listApiKeys({ db: deps.db, principal: request.principal });
      return { keys: keys.map(toApiKeyView) };
    },
  );
  app.delete(
    "/keys/:id",
    contract({
      id: "revokeApiKey",
      tag: "Keys",
      summary: "Revoke an API key",
      params: KeyIdParams,
      responses: { 200: ApiKey, 403: adminOnly, 404: "no such key" },
    }),
    async (request) => {
      const { id } = parseInput(KeyIdParams, request.params);
      return toApiKeyView(await revokeApiKey({ db: deps.db, principal: request.principal }, id));
    },
  );
}
