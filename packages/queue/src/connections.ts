import { Redis, type RedisOptions } from "ioredis";

/**
 * API side: fail fast when Redis is away, so a request answers instead of hanging. `commandTimeout`
 * covers a Redis that stops answering on an open connection (a network partition): without it a
 * command waits until TCP gives up, many minutes later, and so does the request that sent it.
 */
export function createProducerConnection(url: string, options: RedisOptions = {}): Redis {
  return new Redis(url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2000,
    commandTimeout: 2000,
    ...options,
  });
}

/**
 * A pub/sub subscriber (the API's "task finished" listener): it waits for Redis as long as it
 * takes, since a SUBSCRIBE that timed out would leave waiters deaf until the next reconnect.
 */
export function createSubscriberConnection(url: string): Redis {
  return createProducerConnection(url, {
    enableOfflineQueue: true,
    maxRetriesPerRequest: null,
    commandTimeout: undefined,
  });
}

/** Worker side: BullMQ's blocking commands require `maxRetriesPerRequest: null`. */
export function createWorkerConnection(url: string, options: RedisOptions = {}): Redis {
  return new Redis(url, { maxRetriesPerRequest: null, ...options });
}
