// `npm run reports:rollup`, run as an operator runs it, against real Postgres: it does what the
// scheduled rollup job does, the stats' deltas included.
import { spawnCommand, useTestEnvironment } from "@aitasks/testing";
import postgres from "postgres";
import { afterAll, beforeAll, expect, it } from "vitest";

const env = useTestEnvironment();
let sql: postgres.Sql;
beforeAll(() => {
  sql = postgres(env.databaseUrl, { max: 1, onnotice: () => {} });
});
afterAll(() => sql?.end());

it("rolls the reports up and folds the stats' deltas into the counters", async () => {
  // A finished task writes a delta row (its trigger), which only a fold moves into the counters.
  await sql`
    insert into tasks (provider, model, input, status, output, tokens_used, cost_usd, completed_at)
    values ('openai', 'gpt-4o-mini', 'folded', 'completed', 'done', 42, 0.000123, now())`;
  const [waiting] = await sql<{ rows: number }[]>`select count(*)::int as rows from stats_deltas`;
  expect(waiting!.rows).toBeGreaterThan(0);

  const cli = spawnCommand("reports:rollup", "npm", ["run", "reports:rollup"], { DATABASE_URL: env.databaseUrl });
  expect(await cli.exited, cli.output()).toBe(0);
  expect(cli.output()).toContain("rollup done");

  const [left] = await sql<{ rows: number }[]>`select count(*)::int as rows from stats_deltas`;
  expect(left!.rows).toBe(0);
  // The counters are sharded: a total is the sum of their rows.
  const [counters] = await sql<{ completed: string; tokens: string; cost_usd: string }[]>`
    select sum(completed)::text as completed, sum(tokens)::text as tokens, sum(cost_usd)::text as cost_usd
    from stats_counters`;
  expect(counters).toEqual({ completed: "1", tokens: "42", cost_usd: "0.000123000000" });
}, 60_000);
