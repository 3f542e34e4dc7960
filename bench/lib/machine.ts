import { execFileSync } from "node:child_process";
import { cpus, loadavg, totalmem } from "node:os";
import { repoRoot } from "@aitasks/testing";
import { Redis } from "ioredis";
import postgres from "postgres";

function git(...args: string[]): string {
  try {
    return execFileSync("git", args, { cwd: repoRoot, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
  } catch {
    return "unknown";
  }
}

/** What the figures were measured on: they only mean something next to this. */
export async function describeMachine(databaseUrl: string, redisUrl: string) {
  const sql = postgres(databaseUrl, { max: 1, onnotice: () => {} });
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  try {
    const [pg] = await sql<{ version: string; max_connections: string; shared_buffers: string }[]>`
      select current_setting('server_version') as version, current_setting('max_connections') as max_connections,
        current_setting('shared_buffers') as shared_buffers`;
    const info = await redis.info("server");
    return {
      cpu: cpus()[0]?.model ?? "unknown",
      cores: cpus().length,
      memoryGb: Math.round(totalmem() / 2 ** 30),
      loadAverageAtStart: loadavg().map((value) => Math.round(value * 100) / 100),
      node: process.version,
      postgres: pg!.version,
      postgresSettings: { max_connections: pg!.max_connections, shared_buffers: pg!.shared_buffers },
      redis: /redis_version:(\S+)/.exec(info)?.[1] ?? "unknown",
      commit: git("rev-parse", "HEAD"),
      uncommittedChanges: git("status", "--porcelain") !== "",
    };
  } finally {
    await sql.end();
    redis.disconnect();
  }
}
export type Machine = Awaited<ReturnType<typeof describeMachine>>;
