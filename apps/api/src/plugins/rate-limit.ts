import { RateLimitedError } from "@aitasks/errors";
import type { RedisClient } from "@aitasks/queue";
import rateLimit from "@fastify/rate-limit";
import type { FastifyInstance, FastifyReply } from "fastify";

export interface RateLimitOptions {
  perMinute: number;
  /** Shared by every API process, so the limit holds across them. */
  redis: RedisClient;
  namespace: string;
}

/**
 * Per API key (per client IP in open mode), counted in Redis. It runs after authentication, so
 * it knows the key; if Redis is down, requests are let through rather than refused.
 */
export async function registerRateLimit(app: FastifyInstance, options: RateLimitOptions) {
  await app.register(rateLimit, {
    global: true,
    hook: "preHandler",
    max: options.perMinute,
    timeWindow: 60_000,
    redis: options.redis,
    nameSpace: options.namespace,
    skipOnError: true,
    keyGenerator: (request) => {
      const principal = request.principal;
      if (principal?.role === "user") return `key-${principal.keyId}`;
      if (principal?.role === "admin") return "admin";
      return `ip-${request.ip}`;
    },
    errorResponseBuilder: (_request, context) =>
      new RateLimitedError(`rate limit of ${context.max} requests per minute exceeded; retry in ${context.after}`),
  });
}

/**
 * Failed authentications per client address, counted in Redis before any key lookup: a client
 * that sent `perMinute` wrong or missing keys in the last minute gets 429 without another database
 * lookup, until the minute is over. Requests with a valid key are never counted, so many clients
 * behind one proxy address are not limited together. If Redis is down, nobody is refused.
 */
export function failedAuthenticationLimiter(options: RateLimitOptions & { refusal?: string }) {
  // What the 429 says before "retry in N seconds".
  const refusal = options.refusal ?? "too many requests without a valid API key from this address";
  const keyOf = (ip: string) => `${options.namespace}auth-failures:${ip}`;
  return {
    /** Throws RATE_LIMITED (and sets Retry-After) when this address is over its failures. */
    async check(ip: string, reply: FastifyReply) {
      const failures = await options.redis.get(keyOf(ip)).catch(() => null);
      if (Number(failures ?? 0) < options.perMinute) return;
      const ttl = await options.redis.pttl(keyOf(ip)).catch(() => 60_000);
      const retryAfter = Math.max(1, Math.ceil(ttl / 1000));
      reply.header("retry-after", String(retryAfter));
      throw new RateLimitedError(`${refusal}; retry in ${retryAfter} seconds`);
    },
    async recordFailure(ip: string) {
      await options.redis
        .multi()
        .incr(keyOf(ip))
        .pexpire(keyOf(ip), 60_000, "NX")
        .exec()
        .catch(() => {});
    },
  };
}
export type FailedAuthenticationLimiter = ReturnType<typeof failedAuthenticationLimiter>;
