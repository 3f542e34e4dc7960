import { readFileSync } from "node:fs";
import type postgres from "postgres";

const TICKS_PER_SECOND = 100;

/** CPU seconds (user + system) a process has used so far (Linux /proc), or 0 once it is gone. */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name, which is in parentheses and may contain spaces.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
  } catch {
    return 0;
  }
}

async function backendPids(sql: postgres.Sql, database: string): Promise<number[]> {
  const rows = await sql<{ pid: number }[]>`
    select pid from pg_stat_activity
    where datname = ${database} and backend_type = 'client backend' and pid <> pg_backend_pid()`;
  return rows.map((row) => row.pid);
}

/**
 * CPU time spent by some processes and by the Postgres backends serving a database, over a span
 * of work. Unlike throughput, CPU per request hardly depends on what else the machine is doing,
 * so it shows where the time goes even on a noisy machine. (Postgres and its clients must run on
 * this machine; elsewhere the Postgres figure reads 0.)
 */
export async function startCpuMeter(sql: postgres.Sql, database: string, pids: Record<string, number>) {
  const before = new Map<number, number>();
  for (const pid of [...Object.values(pids), ...(await backendPids(sql, database))]) before.set(pid, cpuSeconds(pid));
  return async (): Promise<Record<string, number>> => {
    const spent = (pid: number) => cpuSeconds(pid) - (before.get(pid) ?? 0);
    const backends = new Set([...before.keys(), ...(await backendPids(sql, database))]);
    for (const pid of Object.values(pids)) backends.delete(pid);
    const result: Record<string, number> = {};
    for (const [name, pid] of Object.entries(pids)) result[name] = spent(pid);
    result.postgres = [...backends].reduce((sum, pid) => sum + spent(pid), 0);
    return result;
  };
}
