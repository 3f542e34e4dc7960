import { once } from "node:events";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/** What the fake answers to one chat-completions request. */
export type FakeReply =
  | {
      kind: "ok";
      text?: string;
      promptTokens?: number;
      completionTokens?: number;
      /** Reported as `usage.prompt_tokens_details.cached_tokens` (part of the prompt tokens). */
      cachedTokens?: number;
      /** Reported as `usage.completion_tokens_details.reasoning_tokens` (part of the completion tokens). */
      reasoningTokens?: number;
      omitUsage?: boolean;
      /**
       * A 200 whose `choices` is empty, its usage still reported (unless `omitUsage`): what
       * OpenAI-compatible servers send when nothing came out they could return. Streamed, the
       * answer is the usage chunk alone (`"choices": []`, as OpenAI's own last chunk), then `[DONE]`.
       */
      noChoices?: boolean;
      delayMs?: number;
      /**
       * A streamed request (`"stream": true`) gets `text` in these pieces, one event each (default:
       * about four pieces); `pieceDelayMs` apart, and the stream then hangs before its end when
       * `hangAfterPieces` is set (the client must abort or time out), or its connection is cut
       * when `resetAfterPieces` is (a vendor's stream dying half-way: the call fails retryably).
       */
      pieces?: string[];
      pieceDelayMs?: number;
      hangAfterPieces?: boolean;
      resetAfterPieces?: boolean;
    }
  | { kind: "status"; status: number; message?: string; headers?: Record<string, string> }
  /** Never answers: the client's timeout must fire. */
  | { kind: "hang" }
  /** Closes the connection without a response. */
  | { kind: "reset" }
  /** A 200 whose body is not JSON. */
  | { kind: "malformed" };

export interface ReceivedRequest {
  path: string;
  authorization: string | undefined;
  model: string;
  prompt: string;
  /** `max_completion_tokens` (OpenAI), else `max_tokens` (the Mistral SDK's name for it). */
  maxTokens: number | undefined;
  /** The whole JSON body, for assertions on what an SDK sent under which name. */
  body: Record<string, unknown>;
}

export type ReplyFn = (request: ReceivedRequest, index: number) => FakeReply | Promise<FakeReply>;

/** Token counts the default reply reports (without a max below them), so tests can compute the expected cost. */
export const fakeUsage = (prompt: string) => ({
  promptTokens: prompt.length,
  completionTokens: 2 * prompt.length + 1,
  cachedTokens: 0,
  reasoningTokens: 0,
});
export const fakeAnswer = (prompt: string) => `answer to: ${prompt}`;

const defaultReply: ReplyFn = () => ({ kind: "ok" });

/**
 * A local HTTP server that speaks the chat-completions protocol shared by OpenAI and Mistral
 * (`POST /v1/chat/completions`), so tests run the real SDKs over real HTTP.
 */
export async function startFakeChatServer(reply: ReplyFn = defaultReply, port = 0) {
  const requests: ReceivedRequest[] = [];
  let replyFn = reply;
  const hanging = new Set<ServerResponse>();
  const abandoned: ReceivedRequest[] = [];

  const server = createServer(async (req, res) => {
    const body = await readBody(req);
    if (req.method !== "POST" || !req.url?.endsWith("/chat/completions")) {
      return send(res, 404, { error: { message: `no route ${req.method} ${req.url}` } });
    }
    const parsed = JSON.parse(body) as {
      model: string;
      messages: { content: string }[];
      max_completion_tokens?: number | null;
      max_tokens?: number | null;
      stream?: boolean;
      stream_options?: { include_usage?: boolean };
    };
    const request: ReceivedRequest = {
      path: req.url,
      authorization: req.headers.authorization,
      model: parsed.model,
      prompt: parsed.messages.at(-1)?.content ?? "",
      maxTokens: parsed.max_completion_tokens ?? parsed.max_tokens ?? undefined,
      body: parsed,
    };
    requests.push(request);
    const answer = await replyFn(request, requests.length - 1);
    switch (answer.kind) {
      case "ok": {
        if (answer.delayMs) await new Promise((resolve) => setTimeout(resolve, answer.delayMs));
        const usage = fakeUsage(request.prompt);
        const promptTokens = answer.promptTokens ?? usage.promptTokens;
        const wanted = answer.completionTokens ?? usage.completionTokens;
        // A real provider stops at the max and says so; it never reports more.
        const capped = request.maxTokens !== undefined && wanted > request.maxTokens;
        const completionTokens = capped ? (request.maxTokens as number) : wanted;
        const reasoningTokens =
          answer.reasoningTokens === undefined ? undefined : Math.min(answer.reasoningTokens, completionTokens);
        const usageBlock = {
          prompt_tokens: promptTokens,
          completion_tokens: completionTokens,
          total_tokens: promptTokens + completionTokens,
          ...(answer.cachedTokens === undefined
            ? {}
            : { prompt_tokens_details: { cached_tokens: answer.cachedTokens } }),
          ...(reasoningTokens === undefined
            ? {}
            : { completion_tokens_details: { reasoning_tokens: reasoningTokens } }),
        };
        if (parsed.stream) {
          const text = answer.text ?? fakeAnswer(request.prompt);
          const pieces = answer.noChoices ? [] : (answer.pieces ?? (text === "" ? [""] : splitIntoPieces(text, 4)));
          return streamAnswer(req, res, {
            id: `chatcmpl-${requests.length}`,
            model: request.model,
            pieces,
            finishReason: capped ? "length" : "stop",
            usage: answer.omitUsage ? undefined : usageBlock,
            // OpenAI sends usage in a last chunk of its own, only when asked; Mistral on the last piece
            // (with no piece at all, in a chunk of its own too).
            usageChunk: parsed.stream_options?.include_usage === true || answer.noChoices === true,
            pieceDelayMs: answer.pieceDelayMs ?? 0,
            hang: answer.hangAfterPieces ? () => hanging.add(res) : undefined,
            reset: answer.resetAfterPieces === true,
            onAbandoned: () => {
              if (hanging.delete(res) || !res.writableEnded) abandoned.push(request);
            },
          });
        }
        return send(res, 200, {
          id: `chatcmpl-${requests.length}`,
          object: "chat.completion",
          created: Math.floor(Date.now() / 1000),
          model: request.model,
          choices: answer.noChoices
            ? []
            : [
                {
                  index: 0,
                  message: { role: "assistant", content: answer.text ?? fakeAnswer(request.prompt) },
                  finish_reason: capped ? "length" : "stop",
                },
              ],
          ...(answer.omitUsage ? {} : { usage: usageBlock }),
        });
      }
      case "status":
        return send(
          res,
          answer.status,
          { error: { message: answer.message ?? `fake error ${answer.status}`, type: "fake_error" } },
          answer.headers,
        );
      case "hang":
        hanging.add(res);
        // The client gave up (its timeout, or an abort): the call is over on its side.
        res.on("close", () => {
          if (hanging.delete(res)) abandoned.push(request);
        });
        return;
      case "reset":
        req.socket.destroy();
        return;
      case "malformed":
        res.writeHead(200, { "content-type": "application/json" });
        res.end("{not json");
        return;
    }
  });
  server.listen(port, "127.0.0.1");
  await once(server, "listening");
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url,
    /** For `OPENAI_BASE_URL`: the OpenAI SDK expects the `/v1` in the base URL. */
    openaiBaseURL: `${url}/v1`,
    /** For `MISTRAL_BASE_URL`: the Mistral SDK adds `/v1` itself. */
    mistralServerURL: url,
    requests,
    /** Requests answered `hang` whose client closed the connection (timed out or aborted the call). */
    abandoned,
    setReply(fn: ReplyFn) {
      replyFn = fn;
    },
    async close() {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      server.close();
      await once(server, "close");
    },
  };
}
export type FakeChatServer = Awaited<ReturnType<typeof startFakeChatServer>>;

/** `text` cut into `count` pieces of about equal length (whole characters), none empty. */
function splitIntoPieces(text: string, count: number): string[] {
  const chars = [...text];
  const size = Math.max(1, Math.ceil(chars.length / count));
  const pieces: string[] = [];
  for (let at = 0; at < chars.length; at += size) pieces.push(chars.slice(at, at + size).join(""));
  return pieces;
}

/** A streamed answer, as both vendors send it: `data:` events of chunks, then `data: [DONE]`. */
async function streamAnswer(
  req: IncomingMessage,
  res: ServerResponse,
  answer: {
    id: string;
    model: string;
    pieces: string[];
    finishReason: string;
    usage: Record<string, unknown> | undefined;
    usageChunk: boolean;
    pieceDelayMs: number;
    hang: (() => void) | undefined;
    reset: boolean;
    onAbandoned: () => void;
  },
) {
  res.on("close", answer.onAbandoned);
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
  const created = Math.floor(Date.now() / 1000);
  const chunk = (choices: unknown[], usage?: unknown) =>
    `data: ${JSON.stringify({ id: answer.id, object: "chat.completion.chunk", created, model: answer.model, choices, ...(usage ? { usage } : {}) })}\n\n`;
  const last = answer.pieces.length - 1;
  for (const [index, piece] of answer.pieces.entries()) {
    if (answer.pieceDelayMs) await new Promise((resolve) => setTimeout(resolve, answer.pieceDelayMs));
    if (req.socket.destroyed) return;
    const final = index === last && !answer.hang && !answer.reset;
    res.write(
      chunk(
        [{ index: 0, delta: { role: "assistant", content: piece }, finish_reason: final ? answer.finishReason : null }],
        final && !answer.usageChunk ? answer.usage : undefined,
      ),
    );
  }
  if (answer.hang) return answer.hang();
  // Ended rather than destroyed, so the pieces written so far still reach the client.
  if (answer.reset) return void res.socket?.end();
  if (answer.usageChunk && answer.usage) res.write(chunk([], answer.usage));
  res.end("data: [DONE]\n\n");
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
  res.writeHead(status, { "content-type": "application/json", ...headers });
  res.end(JSON.stringify(body));
}
