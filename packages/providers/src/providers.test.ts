import { type FakeChatServer, type FakeReply, fakeAnswer, fakeUsage, startFakeChatServer } from "@aitasks/testing";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type ChatProvider, ProviderError, parseRetryAfter } from "./chat-provider.js";
import { createProviders } from "./index.js";
import { createMistralProvider } from "./mistral-provider.js";
import { createOpenAIProvider } from "./openai-provider.js";

let fake: FakeChatServer;

beforeAll(async () => {
  fake = await startFakeChatServer();
});

afterAll(async () => {
  await fake?.close();
});

beforeEach(() => {
  fake.requests.length = 0;
  fake.abandoned.length = 0;
  fake.setReply(() => ({ kind: "ok" }));
});

const API_KEY = "sk-test-key";

interface Adapter {
  name: string;
  model: string;
  /** The request field the adapter's SDK bounds the output with. */
  maxField: string;
  create(timeoutMs?: number): ChatProvider;
}

const adapters: Adapter[] = [
  {
    name: "OpenAI",
    model: "gpt-4o-mini",
    maxField: "max_completion_tokens",
    create: (timeoutMs = 5_000) => createOpenAIProvider({ apiKey: API_KEY, baseURL: fake.openaiBaseURL, timeoutMs }),
  },
  {
    name: "Mistral",
    model: "mistral-small-latest",
    maxField: "max_tokens",
    create: (timeoutMs = 5_000) =>
      createMistralProvider({ apiKey: API_KEY, serverURL: fake.mistralServerURL, timeoutMs }),
  },
];

/** Runs one call against the fake answering `reply`, and returns the ProviderError it must fail with. */
async function failure(provider: ChatProvider, model: string, reply: FakeReply): Promise<ProviderError> {
  fake.setReply(() => reply);
  const error = await provider.complete({ model, prompt: "hello" }).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ProviderError);
  return error as ProviderError;
}

describe.each(adapters)("$name provider against the fake server", ({ name, model, maxField, create }) => {
  it("returns the answer and the exact usage, sending model, prompt and key", async () => {
    const prompt = "What is the capital of France?";
    const completion = await create().complete({ model, prompt });

    expect(completion.text).toBe(fakeAnswer(prompt));
    expect(completion.usage).toEqual(fakeUsage(prompt));
    expect(completion.usage).toEqual({
      promptTokens: prompt.length,
      completionTokens: 2 * prompt.length + 1,
      cachedTokens: 0,
      reasoningTokens: 0,
    });
    expect(fake.requests).toHaveLength(1);
    expect(fake.requests[0]).toMatchObject({
      path: "/v1/chat/completions",
      model,
      prompt,
      authorization: `Bearer ${API_KEY}`,
      maxTokens: undefined,
    });
    // Without a max, none is sent: the provider's default applies, as before.
    expect(fake.requests[0]?.body).not.toHaveProperty("max_tokens");
    expect(fake.requests[0]?.body).not.toHaveProperty("max_completion_tokens");
  });

  it("reports the usage the server sends, not a guess", async () => {
    fake.setReply(() => ({ kind: "ok", text: "fixed", promptTokens: 11, completionTokens: 0 }));
    const completion = await create().complete({ model, prompt: "anything" });
    expect(completion).toEqual({
      text: "fixed",
      usage: { promptTokens: 11, completionTokens: 0, cachedTokens: 0, reasoningTokens: 0 },
    });
  });

  it("reads the cached and reasoning tokens", async () => {
    fake.setReply(() => ({
      kind: "ok",
      promptTokens: 1200,
      cachedTokens: 1024,
      completionTokens: 300,
      reasoningTokens: 256,
    }));
    const completion = await create().complete({ model, prompt: "anything" });
    expect(completion.usage).toEqual({
      promptTokens: 1200,
      completionTokens: 300,
      cachedTokens: 1024,
      reasoningTokens: 256,
    });
  });

  it("counts detail figures that do not fit their totals as 0, the dearer reading", async () => {
    fake.setReply(() => ({ kind: "ok", promptTokens: 10, cachedTokens: 11, completionTokens: 5, reasoningTokens: 3 }));
    const completion = await create().complete({ model, prompt: "anything" });
    expect(completion.usage).toEqual({ promptTokens: 10, completionTokens: 5, cachedTokens: 0, reasoningTokens: 3 });
  });

  it(`sends the output bound as ${maxField}`, async () => {
    await create().complete({ model, prompt: "hello", maxOutputTokens: 1234 });
    expect(fake.requests).toHaveLength(1);
    expect(fake.requests[0]?.maxTokens).toBe(1234);
    expect(fake.requests[0]?.body[maxField]).toBe(1234);
    const other = maxField === "max_tokens" ? "max_completion_tokens" : "max_tokens";
    expect(fake.requests[0]?.body).not.toHaveProperty(other);
  });

  it("a reply cut at the max reports exactly the max", async () => {
    const prompt = "a prompt whose default answer is longer than five tokens";
    fake.setReply(() => ({ kind: "ok", reasoningTokens: 40 }));
    const completion = await create().complete({ model, prompt, maxOutputTokens: 5 });
    expect(completion.usage).toEqual({
      promptTokens: prompt.length,
      completionTokens: 5,
      cachedTokens: 0,
      reasoningTokens: 5,
    });
    // Below the max nothing changes.
    fake.setReply(() => ({ kind: "ok" }));
    const uncut = await create().complete({ model, prompt: "hi", maxOutputTokens: 1000 });
    expect(uncut.usage).toEqual(fakeUsage("hi"));
  });

  it("429 with Retry-After is retryable, carries the delay, and is not retried by the SDK", async () => {
    const error = await failure(create(), model, {
      kind: "status",
      status: 429,
      message: "slow down",
      headers: { "retry-after": "7" },
    });
    expect(error.retryable).toBe(true);
    expect(error.retryAfterMs).toBe(7_000);
    expect(error.kind).toBe("rate_limited");
    expect(error.message).toContain("429");
    expect(error.message).toContain(name);
    expect(fake.requests).toHaveLength(1);
  });

  it("500 is retryable, with a single request", async () => {
    const error = await failure(create(), model, { kind: "status", status: 500 });
    expect(error.retryable).toBe(true);
    expect(error.message).toContain("500");
    expect(error.kind).toBe("server_error");
    expect(error.retryAfterMs).toBeUndefined();
    expect(fake.requests).toHaveLength(1);
  });

  it.each([401, 400, 404])("%i is not retryable", async (status) => {
    const error = await failure(create(), model, { kind: "status", status });
    expect(error.retryable).toBe(false);
    expect(error.kind).toBe("client_error");
    expect(error.message).toContain(String(status));
    expect(error.message).toContain(name);
    expect(fake.requests).toHaveLength(1);
  });

  it("a server that never answers times out, retryably", async () => {
    const started = Date.now();
    const error = await failure(create(300), model, { kind: "hang" });
    expect(error.retryable).toBe(true);
    expect(error.kind).toBe("timeout");
    expect(error.message).toContain("did not answer within 300 ms");
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(fake.requests).toHaveLength(1);
  });

  it("an aborted call (a canceled task) fails at once, not retryably, and closes the request", async () => {
    fake.setReply(() => ({ kind: "hang" }));
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    const error = await create(30_000)
      .complete({ model, prompt: "cancel me", signal: controller.signal })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(error).toBeInstanceOf(ProviderError);
    expect((error as ProviderError).retryable).toBe(false);
    expect((error as ProviderError).message).toContain("canceled");
    const abandoned = () => fake.abandoned.some((request) => request.prompt === "cancel me");
    for (let i = 0; i < 100 && !abandoned(); i++) await new Promise((r) => setTimeout(r, 10));
    expect(fake.abandoned.map((request) => request.prompt)).toContain("cancel me");
  });

  it("a call given a signal still times out, retryably", async () => {
    fake.setReply(() => ({ kind: "hang" }));
    const error = await create(300)
      .complete({ model, prompt: "slow", signal: new AbortController().signal })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(error).toBeInstanceOf(ProviderError);
    expect((error as ProviderError).retryable).toBe(true);
    expect((error as ProviderError).message).toContain("did not answer within 300 ms");
  });

  it("a reset connection is retryable", async () => {
    const error = await failure(create(), model, { kind: "reset" });
    expect(error.retryable).toBe(true);
    expect(error.kind).toBe("connection");
    expect(error.message).toContain(name);
    expect(fake.requests).toHaveLength(1);
  });

  it("a body that is not JSON is retryable", async () => {
    const error = await failure(create(), model, { kind: "malformed" });
    expect(error.retryable).toBe(true);
    expect(error.kind).toBe("other");
    expect(error.message).toContain(name);
    expect(fake.requests).toHaveLength(1);
  });

  it("streams: each piece reaches onDelta in order, the text is their concatenation, the usage exact", async () => {
    const pieces = ["Par", "is, ", "of ", "course ", "— é🙂"];
    fake.setReply(() => ({ kind: "ok", text: pieces.join(""), pieces, cachedTokens: 2, reasoningTokens: 3 }));
    const seen: string[] = [];
    const prompt = "capital of France, streamed";
    const completion = await create().complete({ model, prompt, onDelta: (text) => seen.push(text) });

    expect(seen).toEqual(pieces);
    expect(completion.text).toBe(pieces.join(""));
    expect(completion.usage).toEqual({ ...fakeUsage(prompt), cachedTokens: 2, reasoningTokens: 3 });
    expect(fake.requests[0]!.body.stream).toBe(true);
  });

  it("a stream without usage fails, not retryably", async () => {
    fake.setReply(() => ({ kind: "ok", omitUsage: true }));
    const error = await create()
      .complete({ model, prompt: "no usage", onDelta: () => {} })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(error).toBeInstanceOf(ProviderError);
    expect((error as ProviderError).retryable).toBe(false);
    expect((error as ProviderError).message).toContain("no token usage");
  });

  it("an aborted stream fails as canceled, after the pieces sent so far, and closes the request", async () => {
    fake.setReply(() => ({ kind: "ok", pieces: ["one ", "two "], hangAfterPieces: true }));
    const controller = new AbortController();
    const seen: string[] = [];
    const error = await create(30_000)
      .complete({
        model,
        prompt: "cancel my stream",
        signal: controller.signal,
        onDelta: (text) => {
          seen.push(text);
          if (seen.length === 2) controller.abort();
        },
      })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(seen).toEqual(["one ", "two "]);
    expect(error).toBeInstanceOf(ProviderError);
    expect((error as ProviderError).retryable).toBe(false);
    expect((error as ProviderError).message).toContain("canceled");
    const abandoned = () => fake.abandoned.some((request) => request.prompt === "cancel my stream");
    for (let i = 0; i < 100 && !abandoned(); i++) await new Promise((r) => setTimeout(r, 10));
    expect(abandoned()).toBe(true);
  });

  it("a stream that stops sending times out, retryably", async () => {
    fake.setReply(() => ({ kind: "ok", pieces: ["slow "], hangAfterPieces: true }));
    const error = await create(300)
      .complete({ model, prompt: "stalled stream", onDelta: () => {} })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(error).toBeInstanceOf(ProviderError);
    expect((error as ProviderError).retryable).toBe(true);
  });

  it("a stream refused with 429 is retryable", async () => {
    fake.setReply(() => ({ kind: "status", status: 429, headers: { "retry-after": "2" } }));
    const error = await create()
      .complete({ model, prompt: "busy", onDelta: () => {} })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(error).toBeInstanceOf(ProviderError);
    expect((error as ProviderError).retryable).toBe(true);
    expect((error as ProviderError).retryAfterMs).toBe(2000);
  });

  it("an answer without choices fails retryably, carrying the usage it reported (the provider bills it)", async () => {
    const error = await failure(create(), model, { kind: "ok", noChoices: true, cachedTokens: 1, reasoningTokens: 2 });
    expect(error.retryable).toBe(true);
    expect(error.message).toContain(`${name} returned no choices`);
    expect(error.usage).toEqual({ ...fakeUsage("hello"), cachedTokens: 1, reasoningTokens: 2 });
    expect(fake.requests).toHaveLength(1);
  });

  it("a stream without choices fails retryably, carrying the usage it reported", async () => {
    fake.setReply(() => ({ kind: "ok", noChoices: true }));
    const seen: string[] = [];
    const error = await create()
      .complete({ model, prompt: "streamed, no choices", onDelta: (text) => seen.push(text) })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(error).toBeInstanceOf(ProviderError);
    expect((error as ProviderError).retryable).toBe(true);
    expect((error as ProviderError).usage).toEqual(fakeUsage("streamed, no choices"));
    expect(seen).toEqual([]);
  });

  it("a response without usage fails, not retryably", async () => {
    const error = await failure(create(), model, { kind: "ok", omitUsage: true });
    expect(error.retryable).toBe(false);
    expect(error.message).toContain("no token usage");
    expect(error.message).toContain(name);
    expect(fake.requests).toHaveLength(1);
  });
});

describe("createProviders", () => {
  it.each([
    ["openai", "OPENAI_API_KEY", "gpt-4o-mini"],
    ["mistral", "MISTRAL_API_KEY", "mistral-small-latest"],
  ] as const)("without an api key, %s fails at once with a clear error", async (provider, variable, model) => {
    const providers = createProviders({
      openai: { apiKey: undefined, baseURL: fake.openaiBaseURL },
      mistral: { apiKey: undefined, serverURL: fake.mistralServerURL },
      timeoutMs: 1_000,
    });
    const error = await providers[provider].complete({ model, prompt: "hello" }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ProviderError);
    expect((error as ProviderError).retryable).toBe(false);
    expect((error as ProviderError).message).toBe(`${variable} is not configured`);
    expect(fake.requests).toHaveLength(0);
  });

  it("with api keys, both providers reach the fake", async () => {
    const providers = createProviders({
      openai: { apiKey: "sk-openai", baseURL: fake.openaiBaseURL },
      mistral: { apiKey: "sk-mistral", serverURL: fake.mistralServerURL },
      timeoutMs: 5_000,
    });
    await expect(providers.openai.complete({ model: "gpt-4o-mini", prompt: "a" })).resolves.toEqual({
      text: fakeAnswer("a"),
      usage: fakeUsage("a"),
    });
    await expect(providers.mistral.complete({ model: "mistral-small-latest", prompt: "b" })).resolves.toEqual({
      text: fakeAnswer("b"),
      usage: fakeUsage("b"),
    });
    expect(fake.requests.map((r) => r.authorization)).toEqual(["Bearer sk-openai", "Bearer sk-mistral"]);
  });
});

describe("parseRetryAfter", () => {
  const now = Date.parse("2025-01-01T00:00:00Z");

  it("reads seconds", () => {
    expect(parseRetryAfter("7", now)).toBe(7_000);
    expect(parseRetryAfter("0", now)).toBe(0);
    expect(parseRetryAfter("1.5", now)).toBe(1_500);
  });

  it("reads an HTTP date, never going below zero", () => {
    expect(parseRetryAfter("Wed, 01 Jan 2025 00:00:30 GMT", now)).toBe(30_000);
    expect(parseRetryAfter("Tue, 31 Dec 2024 23:59:00 GMT", now)).toBe(0);
  });

  it("ignores what it cannot read", () => {
    expect(parseRetryAfter("soon", now)).toBeUndefined();
    expect(parseRetryAfter("", now)).toBeUndefined();
    expect(parseRetryAfter(null, now)).toBeUndefined();
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
  });
});
