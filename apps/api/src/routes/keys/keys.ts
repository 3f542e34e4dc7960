import type { ApiKeyRecord } from "@aitasks/auth";
import { createApiKey, findApiKey, listApiKeys, revokeApiKey } from "@aitasks/auth";
import { ApiKey, ApiKeyList, CreatedApiKey } from "@aitasks/contract";
import { type Executor, LONE_SURROGATE } from "@aitasks/db";
import { KeyBudget, keyBudgetsOf, setKeyBudget } from "@aitasks/ledger";
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
    budget: KeyBudget.optional(),
  },
  { error: "body must be a JSON object" },
);
const UpdateKeyBody = z.object({ budget: KeyBudget.nullable() }, { error: "body must be a JSON object" });
const KeyIdParams = idParams("key id");

/** The keys' views, each with its budget's current period. */
async function viewsOf(db: Executor, keys: ApiKeyRecord[]) {
  const budgets = await keyBudgetsOf(
    db,
    keys.map((key) => key.id),
  );
  return keys.map((key) => toApiKeyView(key, budgets.get(key.id)));
}

/**
 * Key management, with an admin key only (never in open mode): create (the key is shown once, with
 * its budget if given), list, set or remove a budget, revoke.
 */
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
      const { user_id, budget } = parseInput(CreateKeyBody, request.body);
      const created = await createApiKey({ db: deps.db, principal: request.principal }, user_id, budget);
      const [view] = await viewsOf(deps.db, [created]);
      return reply.code(201).send({ ...view, key: created.key });
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
      return { keys: await viewsOf(deps.db, keys) };
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
      const [view] = await viewsOf(deps.db, [await revokeApiKey({ db: deps.db, principal: request.principal }, id)]);
      return view;
    },
  );
  app.patch(
    "/keys/:id",
    contract({
      id: "updateApiKey",
      tag: "Keys",
      summary: "Set or remove an API key's budget",
      description:
        "A budget bounds what the key's tasks of one period (UTC day, ISO week, calendar month, or all time) may spend: charged sale prices plus the holds of unfinished tasks. `null` removes it.",
      params: KeyIdParams,
      body: UpdateKeyBody,
      responses: { 200: ApiKey, 403: adminOnly, 404: "no such key" },
    }),
    async (request) => {
      const { id } = parseInput(KeyIdParams, request.params);
      const { budget } = parseInput(UpdateKeyBody, request.body);
      const context = { db: deps.db, principal: request.principal };
      await setKeyBudget(context, id, budget);
      const [view] = await viewsOf(deps.db, [await findApiKey(context, id)]);
      return view;
    },
  );
}
