import { timingSafeEqual } from "node:crypto";
import { hashKey } from "@aitasks/auth";

/** The headers a scrape may authenticate with: `Authorization: Bearer <token>`, or `X-API-Key` as the API takes it. */
export interface ScrapeHeaders {
  authorization?: string | undefined;
  "x-api-key"?: string | string[] | undefined;
}

function presentedToken(headers: ScrapeHeaders): string | undefined {
  const authorization = headers.authorization ?? "";
  if (/^Bearer\b/i.test(authorization)) return /^Bearer\s+(\S+)\s*$/i.exec(authorization)?.[1];
  const header = headers["x-api-key"];
  return typeof header === "string" ? header.trim() || undefined : undefined;
}

/**
 * Who may read /metrics. With an admin key or METRICS_TOKEN configured: a caller presenting one of
 * them. With neither (open local mode, where the API shows everything to anyone): anyone. Tokens
 * are compared as SHA-256 digests in constant time, every digest each time.
 */
export function createMetricsAccess(options: {
  adminKeyDigests: readonly Buffer[];
  metricsToken?: string | undefined;
}) {
  const digests = [...options.adminKeyDigests, ...(options.metricsToken ? [hashKey(options.metricsToken)] : [])];
  return {
    open: digests.length === 0,
    allows(headers: ScrapeHeaders): boolean {
      if (digests.length === 0) return true;
      const token = presentedToken(headers);
      if (!token) return false;
      const digest = hashKey(token);
      let allowed = false;
      for (const known of digests) allowed = timingSafeEqual(known, digest) || allowed;
      return allowed;
    },
  };
}
export type MetricsAccess = ReturnType<typeof createMetricsAccess>;
