import { Cluster, type Redis } from "ioredis";
import type { RedisClient } from "./connections.js";

/**
 * A Redis that evicts keys under memory pressure can drop a job's lock or the job itself, and
 * BullMQ then loses or repeats work without an error anywhere. Only `noeviction` is safe: Redis
 * then refuses writes when full, which BullMQ reports.
 */
const SAFE_EVICTION_POLICY = "noeviction";

/**
 * The server's `maxmemory-policy`, read from `INFO memory` rather than `CONFIG GET`: managed
 * services (ElastiCache, Memorystore, Upstash) disable CONFIG but answer INFO. Undefined when the
 * server does not say (a proxy that hides it).
 */
export async function readEvictionPolicy(redis: RedisClient): Promise<string | undefined> {
  // On a cluster, every master holds queue keys of some slots: the first unsafe one decides.
  const servers: Redis[] = redis instanceof Cluster ? redis.nodes("master") : [redis];
  const policies = await Promise.all(
    servers.map(async (server) => /^maxmemory_policy:(\S+)/m.exec(await server.info("memory"))?.[1]),
  );
  return policies.find((policy) => policy !== SAFE_EVICTION_POLICY) ?? policies[0];
}

export interface EvictionPolicyGuard {
  /** REDIS_ALLOW_EVICTION: run on a Redis that evicts anyway, with a warning. */
  allowEviction: boolean;
  /** The policy is unsafe and not allowed: the process must stop, saying why. */
  onRefused: (reason: string) => void;
  /** A warning to log: the policy is unsafe but allowed, or could not be read. */
  onWarning: (message: string) => void;
}

/**
 * Checks the eviction policy each time `redis` becomes ready (at start, and after a reconnect,
 * which may be to another server after a failover), so a process never runs its queues on a
 * Redis that may evict them. A Redis that is down delays the check; it never blocks start-up.
 */
export function guardEvictionPolicy(redis: RedisClient, guard: EvictionPolicyGuard): void {
  const check = async () => {
    let policy: string | undefined;
    try {
      policy = await readEvictionPolicy(redis);
    } catch (error) {
      guard.onWarning(`could not read Redis's maxmemory-policy: ${(error as Error).message}`);
      return;
    }
    if (policy === undefined) {
      guard.onWarning("Redis did not report its maxmemory-policy; it must be noeviction, or jobs can be lost");
      return;
    }
    if (policy === SAFE_EVICTION_POLICY) return;
    const reason =
      `Redis's maxmemory-policy is ${policy}: under memory pressure it deletes keys, and BullMQ then loses ` +
      `or repeats jobs. Set maxmemory-policy noeviction on the server (CONFIG SET maxmemory-policy noeviction, ` +
      `or your provider's parameter group)`;
    if (guard.allowEviction) guard.onWarning(`${reason}. Running anyway because REDIS_ALLOW_EVICTION=true.`);
    else guard.onRefused(`${reason}, or set REDIS_ALLOW_EVICTION=true to run anyway.`);
  };
  if (redis.status === "ready") void check();
  redis.on("ready", () => void check());
}
