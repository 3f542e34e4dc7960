import { fakeUsage } from "./fake-chat-server.js";
import { waitFor } from "./processes.js";

/** GET /api/task/:id as the contract (SPEC.md) describes it. */
export interface TaskJson {
  id: number;
  status: "pending" | "processing" | "completed" | "failed";
  provider: "openai" | "mistral";
  model: string;
  input: string;
  output: string | null;
  tokens_used: number | null;
  prompt_tokens: number | null;
  completion_tokens: number | null;
  cost: number | null;
  attempts: number;
  error: string | null;
  started_at: string | null;
  completed_at: string | null;
}

export interface HttpAnswer<T = Record<string, unknown>> {
  status: number;
  body: T;
}

async function call<T>(url: string, init: RequestInit = {}): Promise<HttpAnswer<T>> {
  const response = await fetch(url, { signal: AbortSignal.timeout(15_000), ...init });
  const text = await response.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new Error(`${init.method ?? "GET"} ${url} answered ${response.status} with a body that is not JSON: ${text}`);
  }
  return { status: response.status, body: body as T };
}

export function postTask(
  baseUrl: string,
  body: { prompt: string; provider?: "openai" | "mistral"; user_id?: string },
  query = "",
): Promise<HttpAnswer<{ task_id: number; status: string; provider: string; [key: string]: unknown }>> {
  return call(`${baseUrl}/api/task${query}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
}

/** Posts a task and returns its id, failing unless the API answered 202. */
export async function submit(baseUrl: string, prompt: string, provider: "openai" | "mistral" = "openai") {
  const answer = await postTask(baseUrl, { prompt, provider });
  if (answer.status !== 202)
    throw new Error(`POST /api/task answered ${answer.status}: ${JSON.stringify(answer.body)}`);
  return answer.body.task_id;
}

export async function getTask(baseUrl: string, id: number): Promise<TaskJson> {
  const answer = await call<TaskJson>(`${baseUrl}/api/task/${id}`);
  if (answer.status !== 200) throw new Error(`GET /api/task/${id} answered ${answer.status}`);
  return answer.body;
}

/** Polls GET /api/task/:id for every id until each one is `completed` or `failed`. */
export async function waitForFinished(
  baseUrl: string,
  ids: number[],
  timeoutMs: number,
  describeState: () => string = () => "",
): Promise<TaskJson[]> {
  let last: TaskJson[] = [];
  await waitFor(
    async () => {
      last = await Promise.all(ids.map((id) => getTask(baseUrl, id)));
      return last.every((task) => task.status === "completed" || task.status === "failed");
    },
    timeoutMs,
    {
      intervalMs: 250,
      message: () =>
        `tasks ${ids.join(",")} to finish; statuses: ${last.map((t) => `${t.id}=${t.status}`).join(" ")}\n${describeState()}`,
    },
  );
  return last;
}

// Prices in pico-dollars per token: USD per 1M tokens × 1e6 (pico per micro) / 1e6 (tokens).
const PICO_PER_TOKEN = {
  openai: { input: 150_000n, output: 600_000n }, // gpt-4o-mini: $0.15 / $0.60 per 1M
  mistral: { input: 100_000n, output: 300_000n }, // mistral-small-latest: $0.10 / $0.30 per 1M
} as const;

/** The exact cost, in pico-dollars, of the fake's answer to `prompt` on the provider's default model. */
export function expectedCostPico(provider: "openai" | "mistral", prompt: string): bigint {
  const usage = fakeUsage(prompt);
  const price = PICO_PER_TOKEN[provider];
  return BigInt(usage.promptTokens) * price.input + BigInt(usage.completionTokens) * price.output;
}
