import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, spawnCommand, waitFor } from "./processes.js";

/**
 * A real PgBouncer (Debian's package) on a free port of 127.0.0.1 in front of `databaseUrl`'s
 * server, in `poolMode`, with a small pool so that consecutive transactions of one client land on
 * different server connections, as under load. `url(database)` is how a client reaches it.
 */
export async function startPgBouncer(
  databaseUrl: string,
  { poolMode = "transaction", poolSize = 4 }: { poolMode?: "transaction" | "session"; poolSize?: number } = {},
) {
  const target = new URL(databaseUrl);
  const user = decodeURIComponent(target.username || "postgres");
  const directory = mkdtempSync(join(tmpdir(), "aitasks-pgbouncer-"));
  // PgBouncer refuses to run as root; it drops to the postgres user, who must read these files and write its pid file and socket here.
  chmodSync(directory, 0o777);
  const port = await freePort();
  const config = join(directory, "pgbouncer.ini");
  writeFileSync(join(directory, "users.txt"), `"${user}" ""\n`);
  writeFileSync(
    config,
    [
      "[databases]",
      `* = host=${target.hostname} port=${target.port || 5432}`,
      "[pgbouncer]",
      "listen_addr = 127.0.0.1",
      `listen_port = ${port}`,
      `unix_socket_dir = ${directory}`,
      "auth_type = trust",
      `auth_file = ${join(directory, "users.txt")}`,
      `pool_mode = ${poolMode}`,
      `default_pool_size = ${poolSize}`,
      "max_client_conn = 500",
      `pidfile = ${join(directory, "pgbouncer.pid")}`,
      "",
    ].join("\n"),
  );
  const asRoot = process.getuid?.() === 0;
  const proc = spawnCommand("pgbouncer", "pgbouncer", [...(asRoot ? ["-u", "postgres"] : []), config], {});
  await waitFor(() => {
    if (!proc.alive()) throw new Error(`pgbouncer exited:\n${proc.output()}`);
    return proc.output().includes("process up");
  }, 10_000);
  return {
    proc,
    port,
    /** The URL of `database` through the pooler, as a client writes it. */
    url(database = target.pathname.slice(1), query = "") {
      return `postgres://${encodeURIComponent(user)}@127.0.0.1:${port}/${database}${query}`;
    },
    async close() {
      await proc.kill9();
      rmSync(directory, { recursive: true, force: true });
    },
  };
}
