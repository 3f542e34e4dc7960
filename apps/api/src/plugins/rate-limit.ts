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
 * Failed authentications (a missing or wrong key) per client address, counted in Redis. Only a
 * failure is counted, after the key was looked up: a request with a valid key never reads this
 * counter, so nothing other requests from its address send (many clients share one behind a
 * proxy) can refuse it. Past `perMinute` failures in a minute, the address's next failures get
 * 429 instead of 401, until the minute is over. If Redis is down, nobody is refused.
 */
export function failedAuthenticationLimiter(options: RateLimitOptions & { refusal?: string }) {
  // What the 429 says before "retry in N seconds".
  const refusal = options.refusal ?? "too many requests without a valid API key from this address";
  const keyOf = (ip: string) => `${options.namespace}auth-failures:${ip}`;
  return {
    /**
     * Counts one failed authentication from `ip`, in one round trip; throws RATE_LIMITED (and sets
     * Retry-After) when the address is over its budget, else returns and the caller answers 401.
     */
    async recordFailure(ip: string, reply: FastifyReply) {
      const key = keyOf(ip);
      const results = await options.redis
        .multi()
        .incr(key)
        .pexpire(key, 60_000, "NX")
        .pttl(key)
        .exec()
        .catch(() => null);
      const failures = Number(results?.[0]?.[1] ?? 0);
      if (failures <= options.perMinute) return;
      const ttl = Number(results?.[2]?.[1] ?? 60_000);
      const retryAfter = Math.max(1, Math.ceil(ttl / 1000));
      reply.header("retry-after", String(retryAfter));
      throw new RateLimitedError(`${refusal}; retry in ${retryAfter} seconds`);
    },
  };
}
export type FailedAuthenticationLimiter = ReturnType<typeof failedAuthenticationLimiter>;
