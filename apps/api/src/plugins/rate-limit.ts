import { RateLimitedError } from "@aitasks/errors";
import rateLimit from "@fastify/rate-limit";
import type { FastifyInstance } from "fastify";
import type { Redis } from "ioredis";

export interface RateLimitOptions {
  perMinute: number;
  /** Shared by every API process, so the limit holds across them. */
  redis: Redis;
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
