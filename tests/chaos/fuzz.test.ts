import { request as httpRequest, validateHeaderValue } from "node:http";
import type { AddressInfo } from "node:net";
import { createTestApp } from "@aitasks/api/testing";
import { createStripeClient } from "@aitasks/billing";
import { POSITIVE_ID } from "@aitasks/db";
import {
  type FakeStripeServer,
  signStripeEvent,
  startFakeStripeServer,
  stripeEvent,
  useTestEnvironment,
} from "@aitasks/testing";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

/**
 * Property-based fuzzing of every endpoint of the real app (Postgres, Redis, the Stripe fake; no
 * worker, so tasks stay queued). Whatever arrives, the app answers in time, never with a 5xx, and
 * every error is a JSON `{error}` a client can read. Accepted text comes back byte for byte.
 *
 * FUZZ_SCALE=4 npm run test:chaos -- fuzz   multiplies every property's number of runs.
 */

const env = useTestEnvironment();
const WEBHOOK_SECRET = "whsec_test";
const PER_REQUEST_TIMEOUT_MS = 5_000;
const SCALE = Number(process.env.FUZZ_SCALE ?? 1) || 1;
const runs = (n: number) => Math.max(1, Math.round(n * SCALE));

type TestApp = Awaited<ReturnType<typeof createTestApp>>;
let testApp: TestApp;
let stripeFake: FakeStripeServer;
let baseUrl: string;
/** Cases run across all properties, for the summary line. */
let totalCases = 0;

beforeAll(async () => {
  stripeFake = await startFakeStripeServer();
  testApp = await createTestApp(env, {
    stripe: createStripeClient({ secretKey: "sk_test_1", apiBaseUrl: stripeFake.url }),
    stripeWebhookSecret: WEBHOOK_SECRET,
    checkout: {
      subscriptionPriceId: "price_fuzz_monthly",
      microPaymentAmountCents: 100,
      currency: "usd",
      publicBaseUrl: "http://localhost:5000",
    },
  });
  // Stripe's API as the webhook's handlers ask it: every payment settled in dollars, no refunds listed.
  const settled = { id: "txn_fuzz", object: "balance_transaction", amount: 100, fee: 30, currency: "usd" };
  stripeFake.answer("GET", "/v1/payment_intents/*", () => ({
    id: "pi_fuzz",
    latest_charge: { id: "ch_fuzz", balance_transaction: settled },
  }));
  stripeFake.answer("GET", "/v1/invoice_payments", () => ({
    object: "list",
    has_more: false,
    data: [{ status: "paid", payment: { type: "payment_intent", payment_intent: "pi_fuzz" } }],
  }));
  stripeFake.answer("GET", "/v1/balance_transactions/*", () => settled);
  stripeFake.answer("GET", "/v1/refunds", () => ({ object: "list", has_more: false, data: [] }));
  stripeFake.answer("GET", "/v1/subscriptions/*", () => undefined);
  // A real socket too, for raw paths that `inject` would normalise (`..`, `%2e`) before the app saw them.
  await testApp.app.listen({ port: 0, host: "127.0.0.1" });
  baseUrl = `http://127.0.0.1:${(testApp.app.server.address() as AddressInfo).port}`;
  // The producer's Redis connection (no offline queue) is still connecting when the app is ready, and
  // until it is, /health rightly answers 503 "redis: down". The properties are about the steady state.
  for (let attempt = 0; ; attempt++) {
    const health = await testApp.app.inject({ method: "GET", url: "/health" });
    if (health.statusCode === 200) break;
    if (attempt === 100) throw new Error(`the app never became healthy: ${health.body}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
});

afterAll(async () => {
  console.info(`fuzz: ${totalCases} cases in total`);
  // Stripe's stand-in here answers every payment with one charge and one balance transaction, which
  // Stripe never does: the Stripe rules cannot hold for such objects. Credit, holds and charges must.
  await testApp?.close({ skipMoneyInvariants: ["stripe-attribution", "stripe-take-backs", "stripe-charges"] });
  await stripeFake?.close();
});

// ---------------------------------------------------------------------------------------------
// Sending and judging one request
// ---------------------------------------------------------------------------------------------

type Method = "GET" | "POST" | "PUT" | "DELETE" | "PATCH" | "OPTIONS" | "HEAD";

interface Req {
  method: Method;
  url: string;
  headers: Record<string, string>;
  payload?: string | Buffer | undefined;
}

interface Answer {
  status: number;
  headers: Record<string, unknown>;
  body: string;
}

function preview(value: unknown, max = 300): string {
  const text = Buffer.isBuffer(value) ? `<Buffer ${value.subarray(0, max).toString("hex")}>` : JSON.stringify(value);
  return text === undefined ? "undefined" : text.length > max ? `${text.slice(0, max)}… (${text.length} chars)` : text;
}

function describeExchange(req: Req, res?: Answer): string {
  const sent = `${req.method} ${preview(req.url)} headers=${preview(req.headers)} payload=${preview(req.payload)}`;
  return res ? `${sent}\n  -> ${res.status} ${preview(res.body)}` : sent;
}

async function withTimeout<T>(work: Promise<T>, what: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`no answer within ${PER_REQUEST_TIMEOUT_MS} ms: ${what()}`)),
      PER_REQUEST_TIMEOUT_MS,
    );
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function send(req: Req): Promise<Answer> {
  let injected: Promise<Awaited<ReturnType<TestApp["app"]["inject"]>>>;
  try {
    injected = testApp.app.inject({
      method: req.method,
      url: req.url,
      headers: req.headers,
      ...(req.payload === undefined ? {} : { payload: req.payload }),
    });
  } catch (error) {
    // A path `inject` cannot parse as a URL (`/\`): it still reaches a real server, so send it there.
    if ((error as { code?: string }).code === "ERR_INVALID_URL") return sendRaw(req);
    throw error;
  }
  const response = await withTimeout(injected, () => describeExchange(req)).catch((error: { code?: string }) => {
    if (error.code === "ERR_INVALID_URL") return undefined;
    throw error;
  });
  if (!response) return sendRaw(req);
  return { status: response.statusCode, headers: response.headers, body: response.body };
}

/**
 * Percent-encodes what cannot go raw in a request line (space, controls, non-ASCII), byte by byte
 * of WTF-8: a lone surrogate becomes its three bytes (`%ED%A0%80`), which are not UTF-8.
 */
function percentEncodeUnsendable(path: string): string {
  let out = "";
  for (const char of path) {
    const code = char.codePointAt(0)!;
    if (code > 0x20 && code < 0x7f) {
      out += char;
      continue;
    }
    const bytes =
      code >= 0xd800 && code <= 0xdfff
        ? [0xe0 | (code >> 12), 0x80 | ((code >> 6) & 0x3f), 0x80 | (code & 0x3f)]
        : [...Buffer.from(char, "utf8")];
    out += bytes.map((byte) => `%${byte.toString(16).toUpperCase().padStart(2, "0")}`).join("");
  }
  return out;
}

/** Over a real socket, with the path as given (Node's client sends it unchanged, `..` and all). */
async function sendRaw(req: Req): Promise<Answer> {
  const { hostname, port } = new URL(baseUrl);
  const exchange = new Promise<Answer>((resolve, reject) => {
    // Header values no HTTP client can send (CR, LF, NUL) are left out here.
    const headers = Object.fromEntries(
      Object.entries(req.headers).filter(([name, value]) => {
        try {
          validateHeaderValue(name, value);
          return true;
        } catch {
          return false;
        }
      }),
    );
    const outgoing = httpRequest(
      { hostname, port, method: req.method, path: percentEncodeUnsendable(req.url), headers, agent: false },
      (incoming) => {
        const chunks: Buffer[] = [];
        incoming.on("data", (chunk: Buffer) => chunks.push(chunk));
        incoming.on("end", () =>
          resolve({
            status: incoming.statusCode ?? 0,
            headers: incoming.headers,
            body: Buffer.concat(chunks).toString("utf8"),
          }),
        );
        incoming.on("error", reject);
      },
    );
    outgoing.on("error", reject);
    outgoing.end(req.payload);
  });
  return withTimeout(exchange, () => describeExchange(req));
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/**
 * The properties every answer has: 2xx or 4xx (never 5xx, never a redirect), JSON, and an error
 * body `{error: "<words>", ...}` for every 4xx, without a stack trace. Returns the parsed body.
 */
function checkAnswer(req: Req, res: Answer): unknown {
  const where = describeExchange(req, res);
  if (res.status >= 500) throw new Error(`server error: ${where}`);
  if (!((res.status >= 200 && res.status < 300) || (res.status >= 400 && res.status < 500))) {
    throw new Error(`unexpected status: ${where}`);
  }
  if (req.method === "HEAD") return undefined;
  if (!/^application\/json/.test(String(res.headers["content-type"] ?? ""))) {
    throw new Error(`answer is not declared as JSON (${String(res.headers["content-type"])}): ${where}`);
  }
  let body: unknown;
  try {
    body = JSON.parse(res.body);
  } catch {
    throw new Error(`answer is not JSON: ${where}`);
  }
  if (res.status >= 400) {
    if (!isRecord(body) || typeof body.error !== "string" || body.error.trim().length === 0) {
      throw new Error(`error answer without a non-empty string "error": ${where}`);
    }
    if (/\n\s+at\s/.test(body.error) || "stack" in body) throw new Error(`error answer leaks a stack: ${where}`);
  }
  return body;
}

async function exchange(req: Req): Promise<{ res: Answer; body: unknown }> {
  const res = await send(req);
  return { res, body: checkAnswer(req, res) };
}

// ---------------------------------------------------------------------------------------------
// Arbitraries
// ---------------------------------------------------------------------------------------------

const SQL_STRINGS = [
  "'; drop table tasks; --",
  "' OR '1'='1",
  "1; select pg_sleep(10); --",
  '"; DELETE FROM users; --',
  "$1",
  "$$ $$",
  "\\x00",
  "%s%s%s%n",
  "E'\\\\'",
];
const SCRIPT_STRINGS = [
  "<script>alert(1)</script>",
  "<img src=x onerror=alert(1)>",
  "javascript:alert(1)",
  "{{7*7}}",
  "\u0024{7*7}",
  "__proto__",
  "constructor",
  "toString",
];
const NUMBERISH = [
  "NaN",
  "-0",
  "0",
  "Infinity",
  "-Infinity",
  "1e309",
  "1e-400",
  "0x10",
  "0b1",
  "1_000",
  " 5 ",
  "5.0",
  "007",
  "9007199254740993",
  "99999999999999999999",
  "-1",
  "+1",
  "",
  " ",
  "null",
  "undefined",
  "true",
  "[]",
  "{}",
];
const WEIRD_CHARS = [
  "\u0000",
  "\u0001",
  "\u0007",
  "\u001b[31m",
  "\u007f",
  "\u0085",
  "\u00a0",
  "\u2028",
  "\u2029",
  "\u202e",
  "\u200f",
  "\u200b",
  "\ufeff",
  "\ufffd",
  "\uffff",
  "e\u0301",
  "\ud800",
  "\udfff",
  "\udbff\udfff",
  "👨‍👩‍👧‍👦",
  "🇫🇷",
  "שלום",
  "مرحبا",
  "𝔘𝔫𝔦",
  "\r\n",
  "\t",
  "\\",
  '"',
  "'",
  "`",
];

/** A string made of repeats of a short random piece: from a kilobyte to past the 1 MiB body limit. */
const longString = fc
  .tuple(
    fc.oneof(fc.string({ minLength: 1, maxLength: 4 }), fc.constantFrom("x", "é", "🎉", "\u0000", "\ud800", '"')),
    fc.oneof(
      { weight: 8, arbitrary: fc.integer({ min: 1_000, max: 50_000 }) },
      { weight: 2, arbitrary: fc.integer({ min: 200_000, max: 400_000 }) },
      { weight: 1, arbitrary: fc.constantFrom(1024 * 1024 - 20, 1024 * 1024, 1024 * 1024 + 1) },
    ),
  )
  .map(([piece, length]) => piece.repeat(Math.ceil(length / piece.length)).slice(0, length));

/** Single UTF-16 code units of the surrogate range: lone unless two happen to pair up. */
const surrogate = fc.integer({ min: 0xd800, max: 0xdfff }).map((code) => String.fromCharCode(code));

const mixedUnit = fc.oneof(
  { weight: 10, arbitrary: fc.string({ unit: "binary", minLength: 1, maxLength: 1 }) },
  { weight: 4, arbitrary: fc.string({ unit: "grapheme", minLength: 1, maxLength: 1 }) },
  { weight: 4, arbitrary: fc.constantFrom(...WEIRD_CHARS) },
  { weight: 1, arbitrary: fc.constantFrom(...SQL_STRINGS, ...SCRIPT_STRINGS) },
  { weight: 1, arbitrary: surrogate },
);
const nastyString = fc.oneof(
  { weight: 4, arbitrary: fc.string() },
  { weight: 4, arbitrary: fc.string({ unit: mixedUnit, maxLength: 40 }) },
  { weight: 2, arbitrary: fc.string({ unit: "binary" }) },
  { weight: 2, arbitrary: fc.constantFrom(...SQL_STRINGS, ...SCRIPT_STRINGS, ...NUMBERISH) },
  { weight: 1, arbitrary: longString },
);

const weirdNumber = fc.oneof(
  fc.integer(),
  fc.double(),
  fc.constantFrom(
    -0,
    0,
    1,
    -1,
    0.5,
    1.5,
    Number.MAX_SAFE_INTEGER,
    Number.MAX_SAFE_INTEGER + 2,
    2 ** 31,
    2 ** 63,
    1e21,
    1e308,
    -1e308,
    Number.MIN_VALUE,
    Number.EPSILON,
  ),
);

const weirdScalar = fc.oneof(fc.constant(null), fc.boolean(), weirdNumber, nastyString);

const deepNesting = fc
  .tuple(fc.integer({ min: 1, max: 3_000 }), fc.boolean(), weirdScalar)
  .map(([depth, asArray, leaf]) => {
    let value: unknown = leaf;
    for (let i = 0; i < depth; i++) value = asArray ? [value] : { a: value };
    return value;
  });

const weirdValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 6, arbitrary: weirdScalar },
  { weight: 2, arbitrary: fc.array(weirdScalar, { maxLength: 5 }) },
  { weight: 2, arbitrary: fc.dictionary(fc.string(), weirdScalar, { maxKeys: 4 }) },
  { weight: 1, arbitrary: deepNesting },
  { weight: 1, arbitrary: fc.jsonValue() },
  { weight: 1, arbitrary: fc.anything() },
);

/** JSON texts that no JSON.stringify produces: numbers past double range, duplicate keys, escapes. */
const rawJsonText = fc.oneof(
  fc.constantFrom(
    "{",
    "}",
    "[",
    "null",
    "true",
    "0",
    "-0",
    '""',
    "{}",
    "[]",
    "{}{}",
    '{"a":1}garbage',
    "\ufeff{}",
    "{'prompt':'single quotes'}",
    "{prompt:1}",
    '{"prompt":NaN}',
    '{"prompt":Infinity}',
    '{"prompt":1e999}',
    '{"prompt":-1e999}',
    '{"prompt":-0}',
    '{"prompt":123456789012345678901234567890}',
    '{"user_id":1e999,"description":"x"}',
    '{"user_id":-0}',
    '{"user_id":0.0000000000000000001}',
    '{"user_id":9007199254740993}',
    '{"user_id":1.0}',
    '{"user_id":1e0}',
    '{"email":"a@b.co","email":1}',
    '{"prompt":"a","prompt":"b"}',
    '{"prompt":"a","prompt":null}',
    '{"prompt":"\\ud800"}',
    '{"prompt":"\\udc00\\ud800"}',
    '{"prompt":"a\\u0000b"}',
    '{"prompt":"\\u0000"}',
    '{"prompt":"ok","user_id":"\\u0000"}',
    '{"user_id":"\\u0000"}',
    '{"user_id":"\\ud800"}',
    '{"user_id":"a\\u0000b","description":"x"}',
    '{"user_id":"x","description":"\\ud800"}',
    '{"user_id":1,"description":"\\udfff"}',
    '{"email":"a\\u0000@b.co"}',
    '{"email":"\\ud800@b.co"}',
    '{"prompt":"ok","model":"\\u0000"}',
    '{"prompt":"ok","model":"\\ud800"}',
    '{"prompt":"ok","provider":"\\u0000"}',
    '{"__proto__":{"polluted":true},"prompt":"x"}',
    '{"constructor":{"prototype":{"polluted":true}},"prompt":"x"}',
    '{"prompt":"x","__proto__":null}',
    '{"prompt":"\\x41"}',
    '{"prompt":"\\u12"}',
    '{"prompt":"unterminated',
    '{"prompt":"tab\there"}',
    '{"prompt":"ok"}\u0000',
  ),
  fc.integer({ min: 1, max: 100_000 }).map((depth) => "[".repeat(depth) + "]".repeat(depth)),
  fc.integer({ min: 1, max: 100_000 }).map((depth) => `${'{"prompt":'.repeat(depth)}"x"${"}".repeat(depth)}`),
  fc.integer({ min: 1, max: 10_000 }).map((depth) => "[".repeat(depth)),
  fc.string({ unit: "binary", maxLength: 50 }),
);

/** Bytes that are not UTF-8: stray continuations, overlongs, CESU surrogates, cut sequences, past U+10FFFF. */
const INVALID_UTF8 = [
  [0x80],
  [0xbf],
  [0xc0, 0xaf],
  [0xc1, 0xbf],
  [0xe0, 0x80, 0xaf],
  [0xed, 0xa0, 0x80],
  [0xed, 0xbf, 0xbf],
  [0xe2, 0x82],
  [0xf0, 0x9f, 0x98],
  [0xf4, 0x90, 0x80, 0x80],
  [0xf5, 0x80, 0x80, 0x80],
  [0xf8, 0x88, 0x80, 0x80, 0x80],
  [0xfe],
  [0xff],
  [0xe9], // "é" in latin1
];
const invalidUtf8Bytes = fc
  .array(
    fc.oneof(
      fc.constantFrom(...INVALID_UTF8).map((bytes) => Buffer.from(bytes)),
      fc.string({ unit: "binary", maxLength: 5 }).map((s) => Buffer.from(s.replace(/["\\]/g, ""), "utf8")),
    ),
    { minLength: 1, maxLength: 6 },
  )
  .map((parts) =>
    Buffer.concat([Buffer.from(INVALID_UTF8[Math.floor(parts.length % INVALID_UTF8.length)]!), ...parts]),
  );

const CONTENT_TYPES = [
  "application/json; charset=utf-8",
  "application/json;charset=UTF-8",
  "application/json; charset=latin1",
  "application/json; charset=iso-8859-1",
  "application/json; charset=utf-16",
  "application/json; charset=",
  'application/json; charset="utf-8"',
  "APPLICATION/JSON",
  "application/json ; charset=utf-8",
  "application/json; boundary=x; charset=utf-8; foo=bar",
  "application/jsonx",
  "application/vnd.api+json",
  "application/json-patch+json",
  "application/problem+json",
  "text/plain",
  "text/plain; charset=utf-8",
  "text/html",
  "text/json",
  "application/x-www-form-urlencoded",
  "multipart/form-data; boundary=----x",
  "application/octet-stream",
  "application/xml",
  "*/*",
  "json",
  "",
  ";",
  "/",
  "application/",
  "application/json\u0000",
  "application/json\r\nx-injected: 1",
];

/** A Content-Type header, or none; mostly JSON so bodies reach the routes. */
const contentType: fc.Arbitrary<string | undefined> = fc.oneof(
  { weight: 12, arbitrary: fc.constant("application/json") },
  { weight: 6, arbitrary: fc.constantFrom(...CONTENT_TYPES) },
  { weight: 2, arbitrary: fc.constant(undefined) },
  { weight: 1, arbitrary: fc.string() },
);

const headerValue = fc.oneof(
  fc.string(),
  fc.string({ unit: mixedUnit, maxLength: 20 }),
  fc.constantFrom(...SQL_STRINGS, ...SCRIPT_STRINGS, "\r\n", "\u0000", "\u0007", "a\u001fb", ""),
);

/** Headers beyond Content-Type: request ids, encodings, lies about the length, and noise. */
const extraHeaders: fc.Arbitrary<Record<string, string>> = fc
  .record(
    {
      "x-request-id": headerValue,
      accept: fc.constantFrom("application/json", "text/html", "*/*", "application/xml", ""),
      "accept-encoding": fc.constantFrom("gzip", "br", "deflate", "identity", "*", "zstd;q=0"),
      "content-encoding": fc.constantFrom("gzip", "deflate", "br", "identity", "x-unknown", ""),
      "content-length": fc.constantFrom("0", "1", "5", "999999999", "-1", "abc", "1.5", ""),
      "stripe-signature": headerValue,
      cookie: headerValue,
      "x-noise": headerValue,
      "x-forwarded-for": fc.constantFrom("1.2.3.4", "::1", "unknown", "<script>", ""),
    },
    { requiredKeys: [] },
  )
  .map(
    (headers) =>
      Object.fromEntries(Object.entries(headers).filter(([, v]) => v !== undefined)) as Record<string, string>,
  );

type BodySpec = { kind: "none" } | { kind: "value"; value: unknown } | { kind: "raw"; payload: string | Buffer };

/** Serialises a body spec; JSON.stringify turns NaN and Infinity into null and -0 into 0, raw texts keep them. */
function payloadOf(body: BodySpec): string | Buffer | undefined {
  if (body.kind === "none") return undefined;
  if (body.kind === "raw") return body.payload;
  return JSON.stringify(body.value);
}

/** Bodies for an endpoint whose known fields are `fields` (each with realistic values mixed in). */
function bodyFor(fields: Record<string, fc.Arbitrary<unknown>>): fc.Arbitrary<BodySpec> {
  const withRightKeys = fc.record(
    Object.fromEntries(Object.entries(fields).map(([key, good]) => [key, fc.oneof(good, weirdValue)])),
    { requiredKeys: [] },
  );
  const withExtraKeys = fc
    .tuple(withRightKeys, fc.dictionary(fc.string(), weirdValue, { maxKeys: 3 }))
    .map(([known, extra]) => ({ ...extra, ...known }));
  return fc.oneof(
    { weight: 8, arbitrary: withRightKeys.map((value): BodySpec => ({ kind: "value", value })) },
    { weight: 2, arbitrary: withExtraKeys.map((value): BodySpec => ({ kind: "value", value })) },
    { weight: 3, arbitrary: weirdValue.map((value): BodySpec => ({ kind: "value", value })) },
    { weight: 3, arbitrary: rawJsonText.map((payload): BodySpec => ({ kind: "raw", payload })) },
    {
      weight: 1,
      arbitrary: fc.tuple(fc.constantFrom(...Object.keys(fields)), invalidUtf8Bytes).map(
        ([key, bytes]): BodySpec => ({
          kind: "raw",
          payload: Buffer.concat([Buffer.from(`{"${key}":"`), bytes, Buffer.from('"}')]),
        }),
      ),
    },
    { weight: 1, arbitrary: fc.constant<BodySpec>({ kind: "none" }) },
    { weight: 1, arbitrary: fc.constant<BodySpec>({ kind: "raw", payload: "" }) },
  );
}

const RAW_QUERY_VALUES = [
  "%",
  "%%",
  "%zz",
  "%0",
  "%00",
  "a%00b",
  "%ED%A0%80",
  "%C0%AF",
  "%FF",
  "%E2%82",
  "%F0%9F%98%80",
  "%2F..%2F",
  "+",
  "%2B",
  "a+b",
  "%20",
  "%u0041",
  "=",
  "==",
  "%3D",
  "%26",
  "[]",
  "%5B%5D",
];

type QueryPart = { key: string; value: string | undefined };

function encode(text: string): string {
  try {
    return encodeURIComponent(text);
  } catch {
    return text; // a lone surrogate: sent raw, and the URL parser makes of it what it does
  }
}

const safeDecode = (text: string) => {
  try {
    return decodeURIComponent(text.replace(/\+/g, " "));
  } catch {
    return text;
  }
};

/** Values that would make POST /api/task hold the request open: wait=1..60 after Number(). */
function blocksOnWait(parts: QueryPart[]): boolean {
  return parts.some(({ key, value }) => {
    if (safeDecode(key) !== "wait" || value === undefined) return false;
    const n = Number(safeDecode(value));
    return Number.isInteger(n) && n >= 1 && n <= 60;
  });
}

function queryString(knownKeys: Record<string, fc.Arbitrary<string>>): fc.Arbitrary<QueryPart[]> {
  const anyValue = fc.oneof(
    nastyString.filter((s) => s.length < 5_000),
    fc.constantFrom(...NUMBERISH),
    weirdNumber.map(String),
  );
  const knownPart = fc
    .tuple(
      fc.constantFrom(...Object.keys(knownKeys)),
      fc.oneof(
        { weight: 3, arbitrary: fc.constant("good") },
        { weight: 3, arbitrary: fc.constant("any") },
        { weight: 1, arbitrary: fc.constant("raw") },
        { weight: 1, arbitrary: fc.constant("bare") },
      ),
      fc.nat(),
      anyValue,
      fc.constantFrom(...RAW_QUERY_VALUES),
    )
    .chain(([key, mode, _n, any, raw]) => {
      if (mode === "good") return knownKeys[key]!.map((good): QueryPart => ({ key, value: encode(good) }));
      if (mode === "any") return fc.constant<QueryPart>({ key, value: encode(any) });
      if (mode === "raw") return fc.constant<QueryPart>({ key, value: raw });
      return fc.constant<QueryPart>({ key, value: undefined });
    });
  const oddKey = fc
    .tuple(
      fc.oneof(
        fc.constantFrom(
          "",
          "__proto__",
          "constructor",
          "toString",
          "hasOwnProperty",
          "limit[]",
          "status[0]",
          "user_id[a]",
          "%00",
          "%ED%A0%80",
          "a%26b",
          "LIMIT",
          "Status",
        ),
        fc.string().map(encode),
      ),
      fc.oneof(anyValue.map(encode), fc.constantFrom(...RAW_QUERY_VALUES)),
    )
    .map(([key, value]): QueryPart => ({ key, value }));
  return fc.array(fc.oneof({ weight: 4, arbitrary: knownPart }, { weight: 1, arbitrary: oddKey }), { maxLength: 6 });
}

const joinQuery = (parts: QueryPart[]) =>
  parts.length === 0
    ? ""
    : `?${parts.map(({ key, value }) => (value === undefined ? key : `${key}=${value}`)).join("&")}`;

const prefix = fc.constantFrom("/api", "/api/v1");

const TASK_STATUSES = ["pending", "processing", "completed", "failed", "canceled"];
const isoDate = fc
  .date({ min: new Date("0001-01-01T00:00:00Z"), max: new Date("9999-12-31T00:00:00Z"), noInvalidDate: true })
  .map((date) => date.toISOString().slice(0, 10));
const cursorOf = (text: string) => Buffer.from(text).toString("base64url");
const goodCursor = fc.oneof(
  fc.integer({ min: 1, max: 2_000 }).map((id) => cursorOf(`t${id}`)),
  fc.constantFrom(
    cursorOf("t999999999999999"),
    cursorOf("t9999999999999999"),
    cursorOf("t0"),
    cursorOf("t-1"),
    cursorOf("x1"),
    cursorOf("t1\u0000"),
    "dDE",
    "dDE=",
    "dDE==",
    "!!!",
    "",
  ),
);
const queryKeys = {
  wait: fc.constantFrom("0", "61", "-1", "1.5", "abc", "", "1e1000", "NaN", "0x01", "1,5"),
  limit: fc.oneof(fc.integer({ min: -5, max: 1_005 }).map(String), fc.constantFrom("1e3", "0x10", "1.0", " 7 ")),
  status: fc.oneof(fc.constantFrom(...TASK_STATUSES), fc.constantFrom("PENDING", "done", "")),
  cursor: goodCursor,
  user_id: fc.oneof(
    fc.constantFrom("ada@example.com", "grace", "user_1", "\u0000", "a\u0000b", "\ud800"),
    fc.string({ unit: mixedUnit, maxLength: 10 }),
  ),
  date: fc.oneof(
    isoDate,
    fc
      .tuple(fc.integer({ min: -1, max: 10_001 }), fc.integer({ min: -1, max: 14 }), fc.integer({ min: -1, max: 33 }))
      .map(([y, m, d]) => `${String(y).padStart(4, "0")}-${String(m).padStart(2, "0")}-${String(d).padStart(2, "0")}`),
    fc.constantFrom("2024-02-29", "2023-02-29", "0000-01-01", "9999-12-26", "9999-12-27", "2025-1-5", "20250115"),
  ),
} satisfies Record<string, fc.Arbitrary<string>>;
const anyQuery = queryString(queryKeys);
const submitQuery = anyQuery.filter((parts) => !blocksOnWait(parts));

function request(
  method: Method,
  path: string,
  query: QueryPart[],
  type: string | undefined,
  headers: Record<string, string>,
  body: BodySpec,
): Req {
  const all: Record<string, string> = { ...headers };
  if (type !== undefined) all["content-type"] = type;
  return { method, url: `${path}${joinQuery(query)}`, headers: all, payload: payloadOf(body) };
}

/** `FUZZ_SEED=<seed>` replays the cases of a failed run (fast-check prints the seed). */
const REPLAY_SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : undefined;

/** Runs one property and counts its cases. */
async function check<Ts extends [unknown, ...unknown[]]>(
  numRuns: number,
  arbitraries: { [K in keyof Ts]: fc.Arbitrary<Ts[K]> },
  predicate: (...args: Ts) => Promise<void>,
) {
  let cases = 0;
  await fc.assert(
    fc.asyncProperty(...arbitraries, async (...args: Ts) => {
      cases++;
      await predicate(...args);
    }),
    { numRuns, ...(REPLAY_SEED === undefined ? {} : { seed: REPLAY_SEED }) },
  );
  totalCases += cases;
}

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

const headersOnly = fc.tuple(extraHeaders, contentType);
const noBodyMostly = fc.oneof(
  { weight: 5, arbitrary: fc.constant<BodySpec>({ kind: "none" }) },
  { weight: 1, arbitrary: bodyFor({ prompt: fc.string() }) },
);

describe("fuzzing every endpoint: never a 5xx, always a JSON answer, never a hang", () => {
  it("GET /health", async () => {
    await check(
      runs(300),
      [anyQuery, headersOnly, noBodyMostly, fc.constantFrom<Method>("GET", "GET", "GET", "HEAD")],
      async (query, [headers, type], body, method) => {
        const req = request(method, "/health", query, type, headers, body);
        const { res, body: answer } = await exchange(req);
        if (res.status === 200 && method === "GET") expect(answer).toMatchObject({ status: "healthy" });
      },
    );
  });

  it("POST /api/task with random bodies, queries and headers", async () => {
    const body = bodyFor({
      prompt: fc.oneof(fc.string({ minLength: 1 }), nastyString),
      provider: fc.constantFrom("openai", "mistral", "OpenAI", "anthropic", "", " openai"),
      user_id: fc.oneof(fc.constantFrom("ada@example.com", null, ""), fc.string({ minLength: 1, maxLength: 330 })),
      model: fc.constantFrom("gpt-4o-mini", "gpt-4.1-mini", "mistral-small-latest", "gpt-99", "", "\u0000"),
    });
    await check(runs(1_800), [prefix, submitQuery, headersOnly, body], async (p, query, [headers, type], spec) => {
      const req = request("POST", `${p}/task`, query, type, headers, spec);
      const { res, body: answer } = await exchange(req);
      if (res.status === 202) {
        expect(answer).toEqual({ task_id: expect.any(Number), status: "pending", provider: expect.any(String) });
        const id = (answer as { task_id: number }).task_id;
        expect(String(res.headers.location)).toMatch(new RegExp(`^/api(/v1)?/task/${id}$`));
      } else {
        expect(res.status, describeExchange(req, res)).toBeGreaterThanOrEqual(400);
      }
    });
  });

  it("GET /api/task/:id with random ids", async () => {
    const id = fc.oneof(
      fc.integer({ min: 1, max: 3_000 }).map(String),
      fc.bigInt({ min: 0n, max: 10n ** 30n }).map(String),
      fc.constantFrom(
        "0",
        "-1",
        "01",
        "1.5",
        "1e3",
        "0x1",
        "+1",
        " 1",
        "1 ",
        "999999999999999",
        "9999999999999999",
        "9223372036854775807",
        "9223372036854775808",
        "NaN",
        "Infinity",
        "%00",
        "1%00",
        "%2F",
        "1%2F2",
        "%2e%2e",
        "..",
        ".",
        "%ED%A0%80",
        "%FF",
        "%",
        "%zz",
        "1;drop",
        "%27%3B%20drop%20table%20tasks%3B--",
        "%3Cscript%3E",
        "１",
        "٣",
      ),
      nastyString.filter((s) => s.length < 2_000).map(encode),
    );
    await check(runs(700), [prefix, id, anyQuery, headersOnly], async (p, taskId, query, [headers, type]) => {
      const req = request("GET", `${p}/task/${taskId}`, query, type, headers, { kind: "none" });
      const { res, body } = await exchange(req);
      if (res.status === 200) expect(body).toMatchObject({ id: Number(taskId), input: expect.any(String) });
      if (POSITIVE_ID.test(taskId)) expect([200, 404]).toContain(res.status);
    });
  });

  it("POST /api/task/:id/cancel with random ids", async () => {
    const id = fc.oneof(
      fc.integer({ min: 1, max: 3_000 }).map(String),
      fc.constantFrom("0", "-1", "01", "1.5", "%00", "..", "9223372036854775808", "abc"),
      nastyString.filter((s) => s.length < 500).map(encode),
    );
    await check(runs(300), [prefix, id, headersOnly, noBodyMostly], async (p, taskId, [headers, type], body) => {
      const req = request("POST", `${p}/task/${taskId}/cancel`, [], type, headers, body);
      const { res, body: answer } = await exchange(req);
      if (res.status === 200) expect(answer).toMatchObject({ id: Number(taskId), status: "canceled" });
      if (POSITIVE_ID.test(taskId) && res.status < 500) expect([200, 400, 404, 409, 413, 415]).toContain(res.status);
    });
  });

  it("GET /api/task/:id/events with random ids and Last-Event-ID headers", async () => {
    // Ids of tasks that do not exist, or that are not ids: a stream that opened would not end.
    const id = fc.oneof(
      fc.bigInt({ min: 10n ** 12n, max: 10n ** 15n }).map(String),
      fc.constantFrom("0", "-1", "01", "1.5", "%00", "..", "9223372036854775808", "abc", "%ED%A0%80"),
    );
    const lastEventId = fc.oneof(
      fc.constantFrom("0", "end", "1.0", "3.17", "0.5", "1.", ".1", "-1", "1.2.3", "9999999.0", "END", ""),
      fc.string({ maxLength: 40 }),
      nastyString.filter((s) => s.length < 200),
    );
    await check(runs(300), [prefix, id, lastEventId, headersOnly], async (p, taskId, last, [headers, type]) => {
      const req = request(
        "GET",
        `${p}/task/${taskId}/events`,
        [],
        type,
        { ...headers, "last-event-id": last },
        {
          kind: "none",
        },
      );
      const { res } = await exchange(req);
      expect(res.status, describeExchange(req, res)).toBeGreaterThanOrEqual(400);
    });
  });

  it("POST /api/task and /api/tasks/batch with random Idempotency-Key, Prefer, priority, stream and callback_url", async () => {
    const item = bodyFor({
      prompt: fc.oneof(fc.constant("fuzzed"), fc.string({ minLength: 1, maxLength: 50 })),
      priority: fc.oneof(fc.integer({ min: -2, max: 12 }), fc.constantFrom(1.5, "5", null, 1e308)),
      stream: fc.oneof(fc.boolean(), fc.constantFrom("true", 1, null)),
      callback_url: fc.oneof(
        fc.constantFrom(
          "ftp://example.com/x",
          "http://127.0.0.1/x",
          "http://localhost/x",
          "http://[::1]/x",
          "http://169.254.169.254/latest",
          "https://user:pw@example.com/",
          "not a url",
          "",
          `https://example.com/${"a".repeat(2_100)}`,
        ),
        fc.webUrl(),
      ),
    });
    const idempotencyKey = fc.oneof(
      fc.constantFrom("key-1", "", " ", "a".repeat(256), "ключ", "\u0001"),
      fc.string({ maxLength: 300 }),
    );
    const prefer = fc.oneof(
      fc.constantFrom("wait=0", "wait=1", "wait=61", "wait=-1", "wait=abc", "respond-async", "wait=1, wait=2", ""),
      fc.string({ maxLength: 40 }),
    );
    const batch = fc.boolean();
    await check(runs(400), [prefix, idempotencyKey, prefer, item, batch], async (p, key, preference, spec, asBatch) => {
      // A wait the fuzzer asked for would hold the request past its deadline: no worker runs here.
      const headers = { "idempotency-key": key, prefer: preference.replace(/wait\s*=\s*\d+/gi, "wait=0") };
      const body: BodySpec =
        asBatch && spec.kind === "value" ? { kind: "value", value: { tasks: [spec.value] } } : spec;
      const req = request("POST", asBatch ? `${p}/tasks/batch` : `${p}/task`, [], "application/json", headers, body);
      const { res } = await exchange(req);
      expect([200, 202, 400, 401, 402, 404, 409, 413, 415, 422, 429], describeExchange(req, res)).toContain(res.status);
    });
  });

  it("GET /api/tasks with random queries", async () => {
    await check(runs(900), [prefix, anyQuery, headersOnly], async (p, query, [headers, type]) => {
      const req = request("GET", `${p}/tasks`, query, type, headers, { kind: "none" });
      const { res, body } = await exchange(req);
      if (res.status === 200) {
        const page = body as { tasks: unknown; next_cursor: unknown };
        expect(Array.isArray(page.tasks)).toBe(true);
        expect(page.next_cursor === null || typeof page.next_cursor === "string").toBe(true);
      }
    });
  });

  it("GET /api/report/:type with random types and dates", async () => {
    const type = fc.oneof(
      { weight: 4, arbitrary: fc.constantFrom("daily", "weekly", "monthly") },
      {
        weight: 1,
        arbitrary: fc.constantFrom(
          "Daily",
          "yearly",
          "",
          "daily%00",
          "daily%2F",
          "%2e%2e",
          "..",
          "__proto__",
          "constructor",
          "toString",
          "daily;",
          "%ED%A0%80",
          "%",
        ),
      },
      { weight: 1, arbitrary: nastyString.filter((s) => s.length < 1_000).map(encode) },
    );
    await check(runs(700), [prefix, type, anyQuery, headersOnly], async (p, reportType, query, [headers, ct]) => {
      const req = request("GET", `${p}/report/${reportType}`, query, ct, headers, { kind: "none" });
      const { res, body } = await exchange(req);
      if (res.status === 200) {
        const report = body as { date: string; start: string; end: string; period: string };
        expect(report.period).toBe(reportType);
        expect(report.date).toBe(report.start);
        expect(report.start <= report.end).toBe(true);
      }
    });
  });

  it("GET /api/stats", async () => {
    await check(runs(250), [prefix, anyQuery, headersOnly, noBodyMostly], async (p, query, [headers, type], body) => {
      const req = request("GET", `${p}/stats`, query, type, headers, body);
      const { res, body: stats } = await exchange(req);
      if (res.status === 200) expect(stats).toMatchObject({ tasks: expect.any(Object), users: expect.any(Object) });
    });
  });

  it("POST /api/payment/subscription with random bodies", async () => {
    const body = bodyFor({
      email: fc.oneof(
        fc.emailAddress(),
        fc.constantFrom("customer@example.com", "CUSTOMER@EXAMPLE.COM", "a@b", "@", "a@b.c", "a@@b.co", "a\u0000@b.co"),
        fc.string().map((s) => `${s}@example.com`),
      ),
    });
    await check(runs(600), [prefix, anyQuery, headersOnly, body], async (p, query, [headers, type], spec) => {
      const req = request("POST", `${p}/payment/subscription`, query, type, headers, spec);
      const { res, body: answer } = await exchange(req);
      if (res.status === 200)
        expect(answer).toEqual({ checkout_url: expect.stringMatching(/^https:\/\/checkout\.stripe\.com\//) });
    });
  });

  it("POST /api/payment/micro with random bodies", async () => {
    const body = bodyFor({
      user_id: fc.oneof(
        fc.integer({ min: 1, max: 50 }),
        fc.constantFrom(
          "ada@example.com",
          "customer@example.com",
          0,
          -1,
          1.5,
          2 ** 53,
          "1",
          "\u0000",
          "a\u0000b",
          "\ud800",
        ),
        fc.string({ minLength: 1, maxLength: 330 }),
      ),
      description: fc.oneof(
        fc.string({ maxLength: 510 }),
        fc.constantFrom("AI Task Processing", "\u0000", "\ud800", "é🎉"),
      ),
    });
    await check(runs(600), [prefix, anyQuery, headersOnly, body], async (p, query, [headers, type], spec) => {
      const req = request("POST", `${p}/payment/micro`, query, type, headers, spec);
      const { res, body: answer } = await exchange(req);
      if (res.status === 200)
        expect(answer).toEqual({ checkout_url: expect.stringMatching(/^https:\/\/checkout\.stripe\.com\//) });
    });
  });

  it("POST /api/webhook/stripe refuses whatever is not signed with the secret", async () => {
    /** Ways to be refused: a made-up header, another secret, a stale timestamp, bytes changed after signing. */
    const forgery = fc.oneof(
      headerValue.map((signature) => ({ kind: "header" as const, signature, secret: "", age: 0 })),
      fc.constantFrom("whsec_wrong", "", "whsec_test ", "WHSEC_TEST").map((secret) => ({
        kind: "signed" as const,
        signature: "",
        secret,
        age: 0,
      })),
      fc.constantFrom(301, 3_600, 86_400 * 365).map((age) => ({
        kind: "signed" as const,
        signature: "",
        secret: WEBHOOK_SECRET,
        age,
      })),
      fc.constant({ kind: "tampered" as const, signature: "", secret: WEBHOOK_SECRET, age: 0 }),
    );
    const event = fc.oneof(
      fc
        .tuple(fc.constantFrom("checkout.session.completed", "invoice.paid", "charge.refunded", "x"), weirdValue)
        .map(([type, object]) => stripeEvent(type, isRecord(object) ? object : { value: object })),
      weirdValue,
    );
    await check(
      runs(600),
      [prefix, event, forgery, extraHeaders, contentType],
      async (p, payloadValue, how, headers, type) => {
        const now = Math.floor(Date.now() / 1000);
        let payload = JSON.stringify(payloadValue) ?? "";
        const all: Record<string, string> = { ...headers };
        delete all["stripe-signature"];
        if (type !== undefined) all["content-type"] = type;
        if (how.kind === "header") {
          all["stripe-signature"] = how.signature;
        } else {
          const signed = signStripeEvent(
            isRecord(payloadValue) ? payloadValue : { value: payloadValue },
            how.secret,
            now - how.age,
          );
          payload = signed.payload;
          all["stripe-signature"] = signed.headers["stripe-signature"];
          // A valid signature over other bytes than the ones sent.
          if (how.kind === "tampered") payload = `${payload} `;
        }
        const req: Req = { method: "POST", url: `${p}/webhook/stripe`, headers: all, payload };
        const { res } = await exchange(req);
        // Only the right secret, fresh, over these exact bytes, may be accepted; the forged kinds never are.
        expect(res.status, describeExchange(req, res)).toBeGreaterThanOrEqual(400);
      },
    );
  });

  it("POST /api/webhook/stripe answers any correctly signed body with 200, or 400 naming what it cannot read", async () => {
    const handledType = fc.constantFrom(
      "checkout.session.completed",
      "checkout.session.async_payment_succeeded",
      "invoice.paid",
      "customer.subscription.created",
      "customer.subscription.updated",
      "customer.subscription.deleted",
      "charge.refunded",
    );
    // The fields the handlers read, each with any value at all.
    const oddObject = fc.record(
      {
        id: weirdValue,
        mode: fc.oneof(fc.constantFrom("payment", "subscription"), weirdValue),
        payment_status: fc.oneof(fc.constant("paid"), weirdValue),
        amount_total: weirdValue,
        amount_paid: weirdValue,
        amount_refunded: weirdValue,
        currency: fc.oneof(fc.constantFrom("usd", "USD", "jpy", "us"), weirdValue),
        customer: weirdValue,
        metadata: weirdValue,
        status: weirdValue,
        status_transitions: weirdValue,
        parent: weirdValue,
        items: fc.oneof(weirdValue, fc.record({ data: fc.array(weirdValue, { maxLength: 3 }) })),
        current_period_end: weirdValue,
        payment_intent: weirdValue,
        subscription: weirdValue,
      },
      { requiredKeys: [] },
    );
    const envelope = fc.record(
      {
        id: fc.oneof(fc.stringMatching(/^evt_[A-Za-z0-9]{1,20}$/), weirdValue),
        type: fc.oneof(handledType, weirdValue),
        created: fc.oneof(fc.integer({ min: 0, max: 2_000_000_000 }), weirdValue),
        data: fc.oneof(fc.record({ object: fc.oneof(oddObject, weirdValue) }), weirdValue),
      },
      { requiredKeys: [] },
    );
    const body = fc.oneof({ weight: 4, arbitrary: envelope }, { weight: 1, arbitrary: fc.jsonValue() });
    await check(runs(600), [prefix, body], async (p, value) => {
      const signed = signStripeEvent(value as object, WEBHOOK_SECRET);
      const req: Req = { method: "POST", url: `${p}/webhook/stripe`, headers: signed.headers, payload: signed.payload };
      const { res, body: answer } = await exchange(req);
      expect([200, 400, 413], describeExchange(req, res)).toContain(res.status);
      if (res.status === 200) expect(answer).toEqual({ status: "success" });
    });
  });

  it("POST /api/webhook/stripe applies any well-formed signed event, and its redeliveries, with 200", async () => {
    const alnum = fc.stringMatching(/^[A-Za-z0-9]{1,24}$/);
    const stripeId = (kind: string) => alnum.map((id) => `${kind}_${id}`);
    // Customer-typed text (names, descriptions, metadata) may hold anything, NUL and lone surrogates included.
    const customerText = fc.string({ unit: mixedUnit, maxLength: 30 });
    const metadata = fc.record(
      {
        user_id: fc.oneof(
          fc.integer({ min: 0, max: 60 }).map(String),
          fc.constantFrom("999999999999999", "9999999999999999999", "", "-1", "01", "1.0"),
          customerText,
        ),
        note: customerText,
      },
      { requiredKeys: [] },
    );
    const cents = fc.integer({ min: 0, max: 99_999_999 });
    const seconds = fc.integer({ min: 1_000_000_000, max: 2_000_000_000 });
    const currency = fc.constantFrom("usd", "eur", "jpy");
    const customer = fc.option(stripeId("cus"), { nil: null });
    const session = fc.record({
      id: stripeId("cs"),
      object: fc.constant("checkout.session"),
      mode: fc.constantFrom("payment", "subscription", "setup"),
      payment_status: fc.constantFrom("paid", "unpaid", "no_payment_required"),
      amount_total: fc.option(cents, { nil: null }),
      currency,
      customer,
      client_reference_id: fc.option(fc.oneof(fc.integer({ min: 1, max: 60 }).map(String), alnum), { nil: null }),
      metadata,
      payment_intent: fc.option(stripeId("pi"), { nil: null }),
      subscription: fc.option(stripeId("sub"), { nil: null }),
    });
    const invoice = fc.record({
      id: stripeId("in"),
      object: fc.constant("invoice"),
      amount_paid: cents,
      currency,
      customer,
      status_transitions: fc.record({ paid_at: fc.option(seconds, { nil: null }) }),
      customer_name: fc.option(customerText, { nil: null }),
      parent: fc.option(fc.record({ subscription_details: fc.record({ subscription: stripeId("sub"), metadata }) }), {
        nil: null,
      }),
    });
    const subscription = fc.record({
      id: stripeId("sub"),
      object: fc.constant("subscription"),
      status: fc.constantFrom("active", "past_due", "canceled", "incomplete", "trialing", "unpaid", "paused"),
      customer: stripeId("cus"),
      metadata,
      cancel_at_period_end: fc.boolean(),
      items: fc.record({
        data: fc.array(fc.record({ current_period_end: seconds, price: fc.record({ id: stripeId("price") }) }), {
          maxLength: 3,
        }),
      }),
    });
    const charge = fc.record({
      id: stripeId("ch"),
      object: fc.constant("charge"),
      amount_refunded: cents,
      currency,
      customer,
      metadata,
      description: fc.option(customerText, { nil: null }),
      billing_details: fc.record({ name: fc.option(customerText, { nil: null }) }),
    });
    const typed = fc.oneof(
      fc.tuple(fc.constantFrom("checkout.session.completed", "checkout.session.async_payment_succeeded"), session),
      fc.tuple(fc.constant("invoice.paid"), invoice),
      fc.tuple(
        fc.constantFrom(
          "customer.subscription.created",
          "customer.subscription.updated",
          "customer.subscription.deleted",
        ),
        subscription,
      ),
      fc.tuple(fc.constant("charge.refunded"), charge),
      fc.tuple(
        fc.oneof(
          fc.constantFrom("payment_intent.succeeded", "customer.created", "invoice.created"),
          fc.stringMatching(/^[a-z_]{1,20}(\.[a-z_]{1,20}){0,2}$/),
        ),
        fc.dictionary(fc.string(), fc.jsonValue(), { maxKeys: 4 }),
      ),
    );
    await check(
      runs(300),
      [prefix, typed, stripeId("evt"), seconds, fc.integer({ min: 1, max: 3 })],
      async (p, [type, object], eventId, created, deliveries) => {
        const event = stripeEvent(type, object as object, { id: eventId, created });
        for (let i = 0; i < deliveries; i++) {
          const signed = signStripeEvent(event, WEBHOOK_SECRET);
          const req: Req = {
            method: "POST",
            url: `${p}/webhook/stripe`,
            headers: signed.headers,
            payload: signed.payload,
          };
          const { res, body } = await exchange(req);
          expect(res.status, describeExchange(req, res)).toBe(200);
          expect(body).toEqual({ status: "success" });
        }
      },
    );
  });

  it("unknown routes, methods and path tricks", async () => {
    const segment = fc.oneof(
      fc.constantFrom(
        "task",
        "tasks",
        "report",
        "stats",
        "payment",
        "micro",
        "subscription",
        "webhook",
        "stripe",
        "health",
        "v1",
        "v2",
        "api",
        "",
        "..",
        ".",
        "%2e%2e",
        "%2E",
        "%2F",
        "%5C",
        "\\",
        "%00",
        "%ED%A0%80",
        "%FF",
        "%",
        "~",
        "*",
        "1",
      ),
      nastyString.filter((s) => s.length < 500).map(encode),
    );
    const method = fc.constantFrom<Method>("GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD");
    const path = fc.tuple(
      fc.constantFrom("", "/api", "/api/v1", "/api/v2", "/API", "//api"),
      fc.array(segment, { maxLength: 5 }),
    );
    await check(
      runs(700),
      [method, path, anyQuery, headersOnly, bodyFor({ prompt: fc.string() })],
      async (m, [start, segments], query, [headers, type], body) => {
        const url = `${start}/${segments.join("/")}`;
        const req = request(
          m,
          url.startsWith("/") ? url : `/${url}`,
          query,
          type,
          headers,
          m === "GET" || m === "HEAD" ? { kind: "none" } : body,
        );
        await exchange(req);
      },
    );
  });

  it("raw paths over a real socket: `..`, encoded slashes and dots, bytes that are not UTF-8", async () => {
    const rawSegment = fc.oneof(
      fc.constantFrom(
        "..",
        ".",
        "%2e%2e",
        "%2E%2E",
        ".%2e",
        "%2F",
        "%2f..%2f",
        "%5C",
        "%00",
        "%ED%A0%80",
        "%C0%AF",
        "%FF",
        "%",
        "%zz",
        "1",
        "42",
        "daily",
        "weekly",
        "task",
        "tasks",
        "report",
        "stats",
        "health",
        "webhook",
        "stripe",
        "payment",
        "micro",
        "subscription",
        "",
      ),
      fc.string({ unit: "binary-ascii", maxLength: 8 }).map(encode),
    );
    const path = fc.tuple(fc.constantFrom("/api", "/api/v1", ""), fc.array(rawSegment, { minLength: 1, maxLength: 5 }));
    await check(
      runs(300),
      [
        fc.constantFrom<Method>("GET", "POST", "GET"),
        path,
        fc.constantFrom("", "?limit=1", "?date=%00", "?user_id=%FF"),
      ],
      async (method, [start, segments], query) => {
        const req: Req = {
          method,
          url: `${start}/${segments.join("/")}${query}`,
          headers: method === "POST" ? { "content-type": "application/json" } : {},
          payload: method === "POST" ? '{"prompt":"raw path"}' : undefined,
        };
        const res = await sendRaw(req);
        checkAnswer(req, res);
      },
    );
  });

  it("a body that is not UTF-8 is refused, never stored with its bytes replaced", async () => {
    const target = fc.constantFrom(
      { path: "/task", field: "prompt", rest: "" },
      { path: "/task", field: "user_id", rest: ',"prompt":"hi"' },
      { path: "/payment/micro", field: "user_id", rest: "" },
      { path: "/payment/micro", field: "description", rest: ',"user_id":"ada@example.com"' },
      { path: "/payment/subscription", field: "email", rest: "" },
    );
    await check(
      runs(400),
      [
        prefix,
        target,
        fc.string({ unit: "grapheme-ascii", maxLength: 5 }),
        invalidUtf8Bytes,
        fc.constantFrom("application/json", "application/json; charset=utf-8", "application/json; charset=latin1"),
      ],
      async (p, { path, field, rest }, before, bytes, type) => {
        const clean = before.replace(/["\\]/g, "");
        const payload = Buffer.concat([Buffer.from(`{"${field}":"${clean}`), bytes, Buffer.from(`"${rest}}`)]);
        const req: Req = { method: "POST", url: `${p}${path}`, headers: { "content-type": type }, payload };
        const { res } = await exchange(req);
        expect(res.status, describeExchange(req, res)).toBe(400);
      },
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Round trip: what is accepted comes back byte for byte; what cannot be kept is refused
// ---------------------------------------------------------------------------------------------

/** No lone surrogate: every high surrogate followed by a low one, every low one preceded by a high one. */
function isWellFormed(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code >= 0xd800 && code <= 0xdbff) {
      const next = text.charCodeAt(i + 1);
      if (!(next >= 0xdc00 && next <= 0xdfff)) return false;
      i++;
    } else if (code >= 0xdc00 && code <= 0xdfff) {
      return false;
    }
  }
  return true;
}

const storable = (text: string) => isWellFormed(text) && !text.includes("\u0000");
const utf8 = (text: string) => Buffer.from(text, "utf8");

/** JSON with every non-ASCII character escaped as \uXXXX: the same text, other bytes on the wire. */
const asciiJson = (value: unknown) =>
  JSON.stringify(value).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);

describe("round trip", () => {
  const promptUnit = fc.oneof(
    { weight: 12, arbitrary: fc.string({ unit: "binary", minLength: 1, maxLength: 1 }) },
    { weight: 4, arbitrary: fc.string({ unit: "grapheme", minLength: 1, maxLength: 1 }) },
    { weight: 4, arbitrary: fc.constantFrom(...WEIRD_CHARS.filter((c) => storable(c))) },
    { weight: 1, arbitrary: fc.constantFrom(...SQL_STRINGS, ...SCRIPT_STRINGS) },
    { weight: 1, arbitrary: surrogate },
    { weight: 1, arbitrary: fc.constant("\u0000") },
  );
  const prompt = fc.oneof(
    { weight: 5, arbitrary: fc.string({ unit: promptUnit, minLength: 1, maxLength: 80 }) },
    { weight: 2, arbitrary: fc.string({ unit: "binary", minLength: 1, maxLength: 300 }) },
    { weight: 1, arbitrary: fc.string({ unit: "grapheme", minLength: 1, maxLength: 300 }) },
    {
      weight: 1,
      arbitrary: fc.constantFrom("'; drop table tasks; --", "<script>alert(1)</script>", " ", "\u3000", "\ufeff"),
    },
  );
  const userId = fc.option(
    fc.oneof(
      fc.string({ unit: promptUnit, minLength: 1, maxLength: 40 }),
      fc.emailAddress(),
      fc.constantFrom("'; drop table users; --", "<script>", "Ada Lovelace", " "),
    ),
    { nil: undefined },
  );
  const encoding = fc.constantFrom("utf8", "ascii-escaped", "buffer");

  it("POST /api/task then GET /api/task/:id gives back input and user_id byte for byte", async () => {
    await check(
      runs(1_200),
      [prefix, prefix, prompt, userId, fc.boolean(), encoding],
      async (postPrefix, getPrefix, text, user, nullUser, how) => {
        const body: Record<string, unknown> = { prompt: text };
        if (user !== undefined) body.user_id = user;
        else if (nullUser) body.user_id = null;
        const payload =
          how === "ascii-escaped"
            ? asciiJson(body)
            : how === "buffer"
              ? utf8(JSON.stringify(body))
              : JSON.stringify(body);
        const req: Req = {
          method: "POST",
          url: `${postPrefix}/task`,
          headers: { "content-type": "application/json" },
          payload,
        };
        const { res, body: answer } = await exchange(req);

        const promptOk = storable(text) && text.trim().length > 0;
        const userOk = user === undefined || (storable(user) && user.length > 0);
        if (!promptOk || !userOk) {
          // Refused as sent, never kept with a character dropped or replaced.
          expect(res.status, describeExchange(req, res)).toBe(400);
          expect((answer as { error: string }).error).toMatch(promptOk ? /user_id/ : /prompt/);
          return;
        }
        expect(res.status, describeExchange(req, res)).toBe(202);
        const id = (answer as { task_id: number }).task_id;

        const view = await exchange({ method: "GET", url: `${getPrefix}/task/${id}`, headers: {} });
        expect(view.res.status).toBe(200);
        const task = view.body as { id: number; input: string; user_id: string | null };
        expect(task.id).toBe(id);
        expect(
          utf8(task.input).equals(utf8(text)),
          `input changed: sent ${preview(text)}, got ${preview(task.input)}`,
        ).toBe(true);
        expect(task.input.length).toBe(text.length);
        if (user === undefined) {
          expect(task.user_id).toBeNull();
        } else {
          expect(task.user_id, "user_id").not.toBeNull();
          expect(
            utf8(task.user_id!).equals(utf8(user)),
            `user_id changed: sent ${preview(user)}, got ${preview(task.user_id)}`,
          ).toBe(true);

          // The same identifier, sent back as a query parameter, finds this task first (newest first).
          const list = await exchange({
            method: "GET",
            url: `${getPrefix}/tasks?limit=1&user_id=${encodeURIComponent(user)}`,
            headers: {},
          });
          expect(list.res.status).toBe(200);
          const tasks = (list.body as { tasks: { id: number; user_id: string }[] }).tasks;
          expect(tasks.map((t) => t.id)).toEqual([id]);
          expect(utf8(tasks[0]!.user_id).equals(utf8(user))).toBe(true);
        }
      },
    );
  });
});
