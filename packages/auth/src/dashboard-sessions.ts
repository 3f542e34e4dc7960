import { createHash, randomBytes } from "node:crypto";
import { dashboardSessions, type Executor } from "@aitasks/db";
import { and, eq, gt, lt, sql } from "drizzle-orm";
import { adminDigestOf } from "./principal.js";

const digest = (bytes: Buffer | string) => createHash("sha256").update(bytes).digest();

/** A dashboard sign-in: the token for the cookie (never stored) and when it ends. */
export interface DashboardSession {
  token: string;
  expiresAt: Date;
}

/**
 * Opens a dashboard session for an admin key; undefined for any other key (a user's key included:
 * the dashboard shows the whole business). Expired sessions are swept on the way.
 */
export async function openDashboardSession(
  db: Executor,
  adminDigests: readonly Buffer[],
  presentedKey: string,
  ttlSeconds: number,
): Promise<DashboardSession | undefined> {
  const adminDigest = adminDigestOf(adminDigests, presentedKey);
  if (!adminDigest) return undefined;
  const token = randomBytes(32).toString("base64url");
  const expiresAt = new Date(Date.now() + ttlSeconds * 1000);
  await db.delete(dashboardSessions).where(lt(dashboardSessions.expiresAt, sql`now()`));
  await db
    .insert(dashboardSessions)
    .values({ tokenDigest: digest(token), adminKeyDigest: digest(adminDigest), expiresAt });
  return { token, expiresAt };
}

/**
 * Whether `token` is a session still open: not signed out, not expired, and opened with an admin
 * key that is still configured (a key taken out of ADMIN_API_KEY ends its sessions).
 */
export async function isDashboardSessionOpen(
  db: Executor,
  adminDigests: readonly Buffer[],
  token: string,
): Promise<boolean> {
  const [row] = await db
    .select({ adminKeyDigest: dashboardSessions.adminKeyDigest })
    .from(dashboardSessions)
    .where(and(eq(dashboardSessions.tokenDigest, digest(token)), gt(dashboardSessions.expiresAt, sql`now()`)));
  return row !== undefined && adminDigests.some((admin) => digest(admin).equals(row.adminKeyDigest));
}

/** Signs a session out everywhere: its cookie opens nothing afterwards, even if copied. */
export async function closeDashboardSession(db: Executor, token: string): Promise<void> {
  await db.delete(dashboardSessions).where(eq(dashboardSessions.tokenDigest, digest(token)));
}
