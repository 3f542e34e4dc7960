import { ForbiddenError } from "@aitasks/errors";
import { ListTasksQuery, listTasks } from "@aitasks/tasks";
import type { FastifyInstance } from "fastify";
import type { AppDeps } from "../../deps.js";
import { parseInput } from "../../http/parse-input.js";

export function listTasksRoute(app: FastifyInstance, deps: Pick<AppDeps, "db">) {
  app.get("/tasks", async (request) => {
    const query = parseInput(ListTasksQuery, request.query);
    const { principal } = request;
    if (principal.role === "user") {
      if (query.user_id !== undefined && query.user_id !== principal.identifier) {
        throw new ForbiddenError("a user API key may only list its own tasks");
      }
      query.user_id = principal.identifier;
    }
    const page = await listTasks(deps.db, query);
    return {
      tasks: page.tasks.map((task) => ({
        id: task.id,
        status: task.status,
        provider: task.provider,
        model: task.model,
        user_id: task.userIdentifier,
        tokens_used: task.tokensUsed,
        cost: task.costUsd === null ? null : Number(task.costUsd),
        error: task.error,
        created_at: task.createdAt.toISOString(),
        completed_at: task.completedAt?.toISOString() ?? null,
      })),
      next_cursor: page.nextCursor,
    };
  });
}
