import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { freePort, type RunningProcess, spawnCommand, waitFor } from "./processes.js";

/**
 * A real `redis-server` on a free port of 127.0.0.1, with `args` added (no persistence). With
 * `tls`, the port speaks only TLS, with that certificate and key.
 */
export async function startRedisServer(
  name: string,
  args: string[] = [],
  directory?: string,
  tls?: { certFile: string; keyFile: string },
) {
  const port = await freePort();
  const listen = tls
    ? ["--port", "0", "--tls-port", String(port), "--tls-cert-file", tls.certFile, "--tls-key-file", tls.keyFile]
    : ["--port", String(port)];
  const proc = spawnCommand(
    name,
    "redis-server",
    [
      ...listen,
      ...(tls ? ["--tls-auth-clients", "no"] : []),
      "--bind",
      "127.0.0.1",
      "--save",
      "",
      "--appendonly",
      "no",
      ...(directory ? ["--dir", directory] : []),
      ...args,
    ],
    {},
  );
  await waitFor(() => {
    if (!proc.alive()) throw new Error(`${name} exited:\n${proc.output()}`);
    return proc.output().includes("Ready to accept connections");
  }, 10_000);
  return { proc, port };
}

/**
 * A certificate authority and a certificate for 127.0.0.1 signed by it (openssl), in a new
 * directory: what a TLS server needs, and the CA file a client must trust (NODE_EXTRA_CA_CERTS).
 */
export function makeTestCertificates() {
  const directory = mkdtempSync(join(tmpdir(), "aitasks-tls-"));
  const file = (name: string) => join(directory, name);
  const openssl = (...args: string[]) => execFileSync("openssl", args, { stdio: "pipe" });
  openssl(
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    file("ca.key"),
    "-out",
    file("ca.pem"),
    "-days",
    "2",
    "-subj",
    "/CN=aitasks test CA",
  );
  openssl(
    "req",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    file("server.key"),
    "-out",
    file("server.csr"),
    "-subj",
    "/CN=127.0.0.1",
  );
  writeFileSync(file("ext.cnf"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
  openssl(
    "x509",
    "-req",
    "-in",
    file("server.csr"),
    "-CA",
    file("ca.pem"),
    "-CAkey",
    file("ca.key"),
    "-CAcreateserial",
    "-out",
    file("server.pem"),
    "-days",
    "2",
    "-extfile",
    file("ext.cnf"),
  );
  return {
    caFile: file("ca.pem"),
    certFile: file("server.pem"),
    keyFile: file("server.key"),
    remove: () => rmSync(directory, { recursive: true, force: true }),
  };
}

export interface RedisEngine {
  proc: RunningProcess;
  port: number;
}

/**
 * A Redis Cluster of `masters` masters, each with one replica, as an operator makes one
 * (`redis-cli --cluster create … --cluster-replicas 1`), ready when every node says the cluster
 * is ok. Short node timeouts, so a killed master is replaced within seconds. With `form: false`
 * the nodes run but no cluster is made until `form()` is called: a cluster still forming.
 */
export async function startRedisCluster({ masters = 3, nodeTimeoutMs = 2000, form: formNow = true } = {}) {
  const directory = mkdtempSync(join(tmpdir(), "aitasks-cluster-"));
  const nodes: RedisEngine[] = [];
  for (let i = 0; i < masters * 2; i++) {
    nodes.push(
      await startRedisServer(
        `cluster-node-${i}`,
        [
          "--cluster-enabled",
          "yes",
          "--cluster-config-file",
          join(directory, `nodes-${i}.conf`),
          "--cluster-node-timeout",
          String(nodeTimeoutMs),
          // A bus port of its own: by default it is the port + 10,000, which another process may
          // hold, and which does not exist for a port above 55,535 (Redis then refuses to start).
          "--cluster-port",
          String(await freePort()),
          ...FIRST_SYNC_AT_ONCE,
        ],
        directory,
      ),
    );
  }
  async function form() {
    const create = spawnCommand(
      "redis-cli --cluster create",
      "redis-cli",
      [
        "--cluster",
        "create",
        ...nodes.map((node) => `127.0.0.1:${node.port}`),
        "--cluster-replicas",
        "1",
        "--cluster-yes",
      ],
      {},
    );
    const code = await create.exited;
    if (code !== 0) throw new Error(`redis-cli --cluster create failed (${code}):\n${create.output()}`);
    await waitFor(
      async () => {
        const states = await Promise.all(nodes.map((node) => clusterState(node.port)));
        return states.every((state) => state === "ok");
      },
      20_000,
      { intervalMs: 200 },
    );
    await waitForReplicasInSync(nodes);
  }
  if (formNow) await form();
  return {
    nodes,
    form,
    /** `REDIS_CLUSTER_NODES` for the service: every node (any one would do). */
    nodeList: nodes.map((node) => `127.0.0.1:${node.port}`).join(","),
    async close() {
      await Promise.all(nodes.map((node) => node.proc.kill9()));
      rmSync(directory, { recursive: true, force: true });
    },
  };
}

/**
 * Redis waits 5 s (`repl-diskless-sync-delay`) before a replica's first full sync, for others to
 * join it; a test's replicas are all there at once.
 */
const FIRST_SYNC_AT_ONCE = ["--repl-diskless-sync-delay", "0"];

/**
 * Waits until every replica among `engines` has finished its first sync with its master. Before
 * that, a replica has no data to serve and Redis will not promote it: a master killed then is
 * simply lost (a cluster stays `fail`), which is not the failover a test means to exercise.
 */
async function waitForReplicasInSync(engines: RedisEngine[]) {
  await waitFor(
    async () => {
      const links = await Promise.all(engines.map((engine) => replicationLink(engine.port)));
      return links.every((link) => link === "master" || link === "up");
    },
    20_000,
    { intervalMs: 100, message: "every replica synced with its master" },
  );
}

/** "master" for a master, else the replica's `master_link_status` ("up" once synced). */
async function replicationLink(port: number): Promise<string | undefined> {
  const client = new Redis({ port, host: "127.0.0.1", lazyConnect: true, maxRetriesPerRequest: 0 }).on(
    "error",
    () => {},
  );
  try {
    await client.connect();
    const info = String(await client.info("replication"));
    if (/role:master/.test(info)) return "master";
    return /master_link_status:(\w+)/.exec(info)?.[1];
  } catch {
    return undefined;
  } finally {
    client.disconnect();
  }
}

async function clusterState(port: number): Promise<string | undefined> {
  const client = new Redis({ port, host: "127.0.0.1", lazyConnect: true, maxRetriesPerRequest: 0 }).on(
    "error",
    () => {},
  );
  try {
    await client.connect();
    const info = await client.cluster("INFO");
    return /cluster_state:(\w+)/.exec(String(info))?.[1];
  } catch {
    return undefined;
  } finally {
    client.disconnect();
  }
}

/**
 * A master, its replica and `sentinels` sentinels watching it under `name` (quorum 2), as
 * Redis's Sentinel guide sets one up; short timeouts, so a killed master fails over in seconds.
 */
export async function startRedisSentinels({ name = "aitasks", sentinels = 3, downAfterMs = 1000 } = {}) {
  const directory = mkdtempSync(join(tmpdir(), "aitasks-sentinel-"));
  const master = await startRedisServer("sentinel-master", FIRST_SYNC_AT_ONCE, directory);
  const replica = await startRedisServer(
    "sentinel-replica",
    ["--replicaof", "127.0.0.1", String(master.port), ...FIRST_SYNC_AT_ONCE],
    directory,
  );
  const watchers: RedisEngine[] = [];
  for (let i = 0; i < sentinels; i++) {
    const port = await freePort();
    const config = join(directory, `sentinel-${i}.conf`);
    writeFileSync(
      config,
      [
        `port ${port}`,
        "bind 127.0.0.1",
        `dir ${directory}`,
        `sentinel monitor ${name} 127.0.0.1 ${master.port} 2`,
        `sentinel down-after-milliseconds ${name} ${downAfterMs}`,
        `sentinel failover-timeout ${name} 10000`,
        `sentinel parallel-syncs ${name} 1`,
        "",
      ].join("\n"),
    );
    const proc = spawnCommand(`sentinel-${i}`, "redis-server", [config, "--sentinel"], {});
    watchers.push({ proc, port });
  }
  // Ready when every sentinel knows the replica and the other sentinels.
  await waitFor(
    async () => {
      const views = await Promise.all(watchers.map((watcher) => sentinelView(watcher.port, name)));
      return views.every((view) => view && view.replicas >= 1 && view.sentinels >= sentinels - 1);
    },
    30_000,
    { intervalMs: 250 },
  );
  await waitForReplicasInSync([replica]);
  return {
    name,
    master,
    replica,
    sentinels: watchers,
    /** `REDIS_SENTINELS` for the service. */
    sentinelList: watchers.map((watcher) => `127.0.0.1:${watcher.port}`).join(","),
    async close() {
      await Promise.all([master, replica, ...watchers].map((engine) => engine.proc.kill9()));
      rmSync(directory, { recursive: true, force: true });
    },
  };
}

async function sentinelView(port: number, name: string) {
  const client = new Redis({ port, host: "127.0.0.1", lazyConnect: true, maxRetriesPerRequest: 0 }).on(
    "error",
    () => {},
  );
  try {
    await client.connect();
    const [master] = (await client.call("SENTINEL", "MASTERS")) as string[][];
    if (!master) return undefined;
    const fields = new Map<string, string>();
    for (let i = 0; i + 1 < master.length; i += 2) fields.set(master[i]!, master[i + 1]!);
    if (fields.get("name") !== name) return undefined;
    return { replicas: Number(fields.get("num-slaves")), sentinels: Number(fields.get("num-other-sentinels")) };
  } catch {
    return undefined;
  } finally {
    client.disconnect();
  }
}
