import { Cluster, type ClusterOptions, Redis, type RedisOptions } from "ioredis";

export interface HostPort {
  host: string;
  port: number;
}

/**
 * Where Redis is: one server (`REDIS_URL`), a Redis Cluster (`REDIS_CLUSTER_NODES`, any of its
 * nodes: the client finds the rest), or a master found through Sentinel (`REDIS_SENTINELS` and
 * `REDIS_SENTINEL_NAME`). In the last two, `url` still gives the scheme (`rediss://` for TLS), the
 * user and password of the data nodes, and for Sentinel the database number.
 */
export type RedisTarget =
  | { kind: "single"; url: string }
  | { kind: "cluster"; nodes: HostPort[]; url: string }
  | { kind: "sentinel"; sentinels: HostPort[]; name: string; url: string };

/** A connection to any kind of target: what every Redis user here takes. */
export type RedisClient = Redis | Cluster;

/**
 * API side: fail fast when Redis is away, so a request answers instead of hanging. `commandTimeout`
 * covers a Redis that stops answering on an open connection (a network partition): without it a
 * command waits until TCP gives up, many minutes later, and so does the request that sent it.
 */
const PRODUCER: RedisOptions = {
  enableOfflineQueue: false,
  maxRetriesPerRequest: 1,
  connectTimeout: 2000,
  commandTimeout: 2000,
};

/**
 * A pub/sub subscriber (the API's task listener, the worker's cancel listener): it waits for Redis
 * as long as it takes, since a SUBSCRIBE that timed out would leave its listeners deaf until the
 * next reconnect.
 */
const SUBSCRIBER: RedisOptions = {
  ...PRODUCER,
  enableOfflineQueue: true,
  maxRetriesPerRequest: null,
  commandTimeout: undefined,
};

/** Worker side: BullMQ's blocking commands require `maxRetriesPerRequest: null`. */
const WORKER: RedisOptions = { maxRetriesPerRequest: null };

export function createProducerConnection(target: RedisTarget, options: RedisOptions = {}): RedisClient {
  return connect(target, { ...PRODUCER, ...options });
}

export function createSubscriberConnection(target: RedisTarget): RedisClient {
  return connect(target, SUBSCRIBER);
}

export function createWorkerConnection(target: RedisTarget, options: RedisOptions = {}): RedisClient {
  return connect(target, { ...WORKER, ...options });
}

/** The user, password, TLS and database a URL gives, as connection options. */
function credentialsOf(url: string): RedisOptions {
  const parsed = new URL(url);
  const database = Number(parsed.pathname.slice(1) || "0");
  return {
    ...(parsed.username ? { username: decodeURIComponent(parsed.username) } : {}),
    ...(parsed.password ? { password: decodeURIComponent(parsed.password) } : {}),
    ...(parsed.protocol === "rediss:" ? { tls: {} } : {}),
    ...(database ? { db: database } : {}),
  };
}

function connect(target: RedisTarget, options: RedisOptions): RedisClient {
  switch (target.kind) {
    case "single":
      return new Redis(target.url, options);
    case "sentinel": {
      const credentials = credentialsOf(target.url);
      return new Redis({
        ...options,
        ...credentials,
        sentinels: target.sentinels,
        name: target.name,
        // With TLS, the sentinels speak it too (they run beside the servers they watch).
        ...(credentials.tls ? { enableTLSForSentinelMode: true } : {}),
      });
    }
    case "cluster": {
      // A cluster has no databases: the number is refused when the configuration is read.
      const { db: _db, ...credentials } = credentialsOf(target.url);
      const { enableOfflineQueue, ...nodeOptions } = options;
      const clusterOptions: ClusterOptions = {
        redisOptions: { ...nodeOptions, ...credentials },
        ...(enableOfflineQueue === undefined ? {} : { enableOfflineQueue }),
        // Commands sent while the cluster moves a slot or fails over are retried on the new owner.
        retryDelayOnFailover: 200,
        retryDelayOnClusterDown: 500,
        retryDelayOnTryAgain: 200,
      };
      return new Cluster(target.nodes, clusterOptions);
    }
  }
}
