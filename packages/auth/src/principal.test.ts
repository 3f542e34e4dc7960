import * as crypto from "node:crypto";
import { readFile } from "node:fs/promises";
import { createDatabase } from "@aitasks/db";
import { useTestEnvironment } from "@aitasks/testing";
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { createApiKey, revokeApiKey } from "./api-keys.js";
import { adminKeyDigests, findPrincipal, hashKey } from "./principal.js";

// The real functions, with timingSafeEqual watched: it must be the one doing the admin comparison.
vi.mock("node:crypto", async (importOriginal) => {
  const original = await importOriginal<typeof import("node:crypto")>();
  return { ...original, timingSafeEqual: vi.fn(original.timingSafeEqual) };
});

const env = useTestEnvironment();
let database: ReturnType<typeof createDatabase>;

beforeAll(() => {
  database = createDatabase(env.databaseUrl, { max: 2 });
});
afterAll(() => database?.close());
beforeEach(() => {
  vi.mocked(crypto.timingSafeEqual).mockClear();
});

// Two admin keys of very different lengths: a digest comparison does not care.
const SHORT_ADMIN = "admin-key-123456";
const LONG_ADMIN = `long-admin-key-${"x".repeat(200)}`;
const digests = adminKeyDigests([SHORT_ADMIN, LONG_ADMIN]);

describe("findPrincipal", () => {
  it("finds each admin key, whatever its length", async () => {
    expect(await findPrincipal(database.db, digests, SHORT_ADMIN)).toEqual({ role: "admin" });
    expect(await findPrincipal(database.db, digests, LONG_ADMIN)).toEqual({ role: "admin" });
    expect(await findPrincipal(database.db, adminKeyDigests([LONG_ADMIN]), LONG_ADMIN)).toEqual({ role: "admin" });
  });

  it("compares 32-byte digests with timingSafeEqual, against every admin key even after a match", async () => {
    const timingSafeEqual = vi.mocked(crypto.timingSafeEqual);

    await findPrincipal(database.db, digests, SHORT_ADMIN);
    expect(timingSafeEqual).toHaveBeenCalledTimes(digests.length);
    for (const [expected, presented] of timingSafeEqual.mock.calls) {
      expect((expected as Buffer).length).toBe(32);
      expect((presented as Buffer).length).toBe(32);
      // The presented key's digest, never the key itself.
      expect(Buffer.from(presented as Buffer).equals(hashKey(SHORT_ADMIN))).toBe(true);
    }
    expect(timingSafeEqual.mock.calls.map(([expected]) => Buffer.from(expected as Buffer).toString("hex"))).toEqual(
      digests.map((digest) => digest.toString("hex")),
    );

    timingSafeEqual.mockClear();
    // A key of another length than any admin key is compared the same way (no length short-cut).
    await findPrincipal(database.db, digests, "x");
    expect(timingSafeEqual).toHaveBeenCalledTimes(digests.length);
  });

  it.each([
    ["a wrong key of the same length as an admin key", `${SHORT_ADMIN.slice(0, -1)}7`],
    ["a prefix of an admin key", SHORT_ADMIN.slice(0, -1)],
    ["a prefix of the long admin key", LONG_ADMIN.slice(0, 16)],
    ["an admin key with a character more", `${SHORT_ADMIN}6`],
    ["an admin key in other case", SHORT_ADMIN.toUpperCase()],
    ["an admin key with a space", ` ${SHORT_ADMIN}`],
    ["both admin keys joined", `${SHORT_ADMIN},${LONG_ADMIN}`],
    ["an admin key's digest in hex", hashKey(SHORT_ADMIN).toString("hex")],
    ["the empty string", ""],
  ])("refuses %s", async (_name, key) => {
    expect(key).not.toBe(SHORT_ADMIN);
    expect(await findPrincipal(database.db, digests, key)).toBeUndefined();
  });

  it("finds a user key as its user, and refuses it once revoked", async () => {
    const created = await createApiKey({ db: database.db, principal: { role: "admin" } }, "principal@example.com");
    const [user] = await database.sql<{ id: number }[]>`
      select id::int as id from users where identifier = ${"principal@example.com"}`;

    const expected = {
      role: "user",
      userId: user!.id,
      identifier: "principal@example.com",
      keyId: created.id,
      budgeted: false,
    };
    expect(await findPrincipal(database.db, digests, created.key)).toEqual(expected);
    // With no admin key configured the user key is still found (authentication decides what open mode means).
    expect(await findPrincipal(database.db, [], created.key)).toEqual(expected);
    // Near misses of a user key are refused.
    expect(await findPrincipal(database.db, digests, created.key.slice(0, -1))).toBeUndefined();
    expect(await findPrincipal(database.db, digests, `${created.key}A`)).toBeUndefined();
    expect(await findPrincipal(database.db, digests, hashKey(created.key).toString("hex"))).toBeUndefined();

    await revokeApiKey({ db: database.db, principal: { role: "admin" } }, created.id);
    expect(await findPrincipal(database.db, digests, created.key)).toBeUndefined();

    // Another key of the same user keeps working.
    const second = await createApiKey({ db: database.db, principal: { role: "admin" } }, "principal@example.com");
    expect(await findPrincipal(database.db, digests, second.key)).toMatchObject({ role: "user", keyId: second.id });
  });

  it("never lets a user key pass for an admin, nor an admin key for a user", async () => {
    const created = await createApiKey({ db: database.db, principal: { role: "admin" } }, "not-admin@example.com");
    expect(await findPrincipal(database.db, digests, created.key)).toMatchObject({ role: "user" });
    expect(await findPrincipal(database.db, digests, SHORT_ADMIN)).toEqual({ role: "admin" });
  });
});

describe("principal.ts, as written", () => {
  /** The source without comments, so a comment mentioning timingSafeEqual does not count. */
  async function code() {
    const text = await readFile(new URL("./principal.ts", import.meta.url), "utf8");
    return text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|[^:])\/\/.*$/gm, "$1");
  }

  it("compares admin keys with crypto.timingSafeEqual", async () => {
    const source = await code();
    expect(source).toMatch(/import\s*\{[^}]*\btimingSafeEqual\b[^}]*\}\s*from\s*"node:crypto"/);
    expect(source).toMatch(/timingSafeEqual\(\s*\w+\s*,\s*\w+\s*\)/);
  });

  it("has no other comparison of keys or digests: no ===, ==, .equals, Buffer.compare or string compare", async () => {
    const source = await code();
    expect(source).not.toMatch(/[!=]==?/);
    expect(source).not.toMatch(/\.equals\(/);
    expect(source).not.toMatch(/\bcompare\(/);
    expect(source).not.toMatch(/localeCompare|\.includes\(|\.indexOf\(|\.find\(|\.some\(/);
  });
});
