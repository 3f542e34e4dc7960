import { execFileSync } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, type RunningProcess, spawnCommand, waitFor } from "./processes.js";

const BIN = "/usr/lib/postgresql/15/bin";
const asRoot = process.getuid?.() === 0;

/** `command` as the postgres user when we are root (Postgres refuses to run as root). */
function asPostgres(command: string, args: string[]): [string, string[]] {
  return asRoot ? ["runuser", ["-u", "postgres", "--", command, ...args]] : [command, args];
}

function startServer(name: string, dataDirectory: string, socketDirectory: string, port: number): RunningProcess {
  const [command, args] = asPostgres(join(BIN, "postgres"), [
    "-D",
    dataDirectory,
    "-p",
    String(port),
    "-k",
    socketDirectory,
    "-c",
    "listen_addresses=127.0.0.1",
    "-c",
    "fsync=off",
  ]);
  return spawnCommand(name, command, args, {});
}

async function accepting(port: number, proc: RunningProcess) {
  await waitFor(
    () => {
      if (!proc.alive()) throw new Error(`${proc.name} exited:\n${proc.output()}`);
      try {
        execFileSync("pg_isready", ["-q", "-h", "127.0.0.1", "-p", String(port)]);
        return true;
      } catch {
        return false;
      }
    },
    30_000,
    { intervalMs: 200 },
  );
}

/**
 * A Postgres primary of its own (initdb on a free port) and a streaming replica of it
 * (`pg_basebackup -R`, hot standby), both on 127.0.0.1, as an operator sets up a read replica.
 * `pauseReplay`/`resumeReplay` hold the replica back, so a test can tell which server answered.
 */
export async function startPostgresWithReplica() {
  const directory = mkdtempSync(join(tmpdir(), "aitasks-replica-"));
  chmodSync(directory, 0o777);
  const primaryDirectory = join(directory, "primary");
  const replicaDirectory = join(directory, "replica");
  const run = (command: string, args: string[]) => {
    const [program, programArgs] = asPostgres(command, args);
    execFileSync(program, programArgs, { stdio: "pipe" });
  };
  run(join(BIN, "initdb"), ["-D", primaryDirectory, "-A", "trust", "-U", "postgres", "--no-sync"]);
  const primaryPort = await freePort();
  const primary = startServer("postgres-primary", primaryDirectory, directory, primaryPort);
  await accepting(primaryPort, primary);
  run(join(BIN, "pg_basebackup"), [
    "-h",
    "127.0.0.1",
    "-p",
    String(primaryPort),
    "-U",
    "postgres",
    "-D",
    replicaDirectory,
    "-R",
    "-X",
    "stream",
    "--no-sync",
  ]);
  const replicaPort = await freePort();
  const replica = startServer("postgres-replica", replicaDirectory, directory, replicaPort);
  await accepting(replicaPort, replica);
  const url = (port: number) => `postgres://postgres@127.0.0.1:${port}/postgres`;
  const onReplica = (statement: string) =>
    execFileSync("psql", ["-h", "127.0.0.1", "-p", String(replicaPort), "-U", "postgres", "-Atc", statement]);
  return {
    primaryUrl: url(primaryPort),
    replicaUrl: url(replicaPort),
    pauseReplay: () => void onReplica("select pg_wal_replay_pause()"),
    resumeReplay: () => void onReplica("select pg_wal_replay_resume()"),
    async close() {
      await Promise.all([replica.kill9(), primary.kill9()]);
      rmSync(directory, { recursive: true, force: true });
    },
  };
}
