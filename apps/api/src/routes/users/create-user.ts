import { CreateUserBody, createUser } from "@aitasks/billing";
import { User } from "@aitasks/contract";
import type { FastifyInstance } from "fastify";
import type { AppDeps } from "../../deps.js";
import { parseInput } from "../../http/parse-input.js";
import { contract } from "../../http/route-contract.js";
import { toUserView } from "../../views/users.js";

/** An admin creates a user before it has a key or a task (to grant it credit); asking again is harmless. */
export function createUserRoute(app: FastifyInstance, deps: Pick<AppDeps, "db">) {
  app.post(
    "/users",
    contract({
      id: "createUser",
      tag: "Users",
      summary: "Create a user (or find the one that exists)",
      description:
        "A user is otherwise created by its first API key or its first task. Idempotent: 201 when created, 200 with the same view when it existed.",
      body: CreateUserBody,
      responses: { 201: User, 200: User, 403: "a user key: creating users needs an admin key" },
    }),
    async (request, reply) => {
      const { user_id } = parseInput(CreateUserBody, request.body);
      const { user, created } = await createUser({ db: deps.db, principal: request.principal }, user_id);
      return reply.code(created ? 201 : 200).send(toUserView(user));
    },
  );
}
