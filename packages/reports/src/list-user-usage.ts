import { type AccessContext, requireAdmin } from "@aitasks/auth";
import { parseAmount } from "@aitasks/db";
import { sql } from "drizzle-orm";
import { periodOf, type Usage, usageByUserId } from "./get-report.js";
import type { ReportType } from "./schemas.js";

/** A user as the operator sees them: their credit now, and what they used in a period. */
export interface UserUsage extends Usage {
  identifier: string;
  email: string | null;
  createdAt: Date;
  balance: bigint;
  held: bigint;
  tasks: number;
  tokens: number;
}

/**
 * The users with the largest charges of the period of `type` that holds `date` first, then the
 * others by identifier, `limit` of them. Usage is summed as the report's groups by user are.
 */
export async function listUserUsage(
  { db, principal }: AccessContext,
  { type, date, limit }: { type: ReportType; date: string; limit: number },
): Promise<{ start: string; end: string; users: UserUsage[] }> {
  requireAdmin(principal, "users' usage");
  const { start, end } = periodOf(type, date);
  const rows = await db.execute<{
    identifier: string;
    email: string | null;
    created_at: string;
    balance: string | null;
    held: string | null;
    tasks: string | null;
    tokens: string | null;
    api_cost: string | null;
    charged: string | null;
  }>(sql`
    select users.identifier, users.email, users.created_at::text as created_at,
      credit_balances.balance::text as balance, credit_balances.held::text as held,
      usage.tasks::text as tasks, usage.tokens::text as tokens,
      usage.api_cost::text as api_cost, usage.charged::text as charged
    from users
    left join credit_balances on credit_balances.user_id = users.id
    left join (${usageByUserId(start, end)}) as usage on usage.user_id = users.id
    order by coalesce(usage.charged, 0) desc, coalesce(usage.api_cost, 0) desc, users.identifier
    limit ${limit}`);
  return {
    start,
    end,
    users: rows.map((row) => {
      const charged = parseAmount(row.charged ?? "0");
      const apiCost = parseAmount(row.api_cost ?? "0");
      return {
        identifier: row.identifier,
        email: row.email,
        createdAt: new Date(row.created_at),
        balance: parseAmount(row.balance ?? "0"),
        held: parseAmount(row.held ?? "0"),
        tasks: Number(row.tasks ?? 0),
        tokens: Number(row.tokens ?? 0),
        charged,
        apiCost,
        margin: charged - apiCost,
      };
    }),
  };
}
