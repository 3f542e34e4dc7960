// The bare-stack reference worker: a BullMQ worker that calls the provider with fetch and, in one
// transaction, marks the task completed and inserts its ledger row. Nothing of ours.
// With REF_PROVIDER_CLIENT=openai-sdk it makes the same call through the official OpenAI SDK, as
// our worker must: the "scaling" scenario measures what the SDK alone costs.
import { Worker } from "bullmq";
import { Redis } from "ioredis";
import postgres from "postgres";

const env = process.env as Record<string, string>;
const concurrency = Number(env.WORKER_CONCURRENCY ?? 20);
// The same pool size as our worker gets for this concurrency.
const sql = postgres(env.DATABASE_URL!, {
  max: Math.min(20, Math.max(4, Math.ceil(concurrency / 10))),
  onnotice: () => {},
});
const connection = new Redis(env.REDIS_URL!, { maxRetriesPerRequest: null });

// gpt-4o-mini: $0.15 and $0.60 per million tokens, i.e. 150,000 and 600,000 pico-dollars a token.
const usd = (pico: bigint) => `${pico / 10n ** 12n}.${(pico % 10n ** 12n).toString().padStart(12, "0")}`;

interface Completion {
  choices: { message: { content: string | null } }[];
  usage?: { prompt_tokens: number; completion_tokens: number } | undefined;
}

async function callWithFetch(prompt: string): Promise<Completion> {
  const response = await fetch(`${env.OPENAI_BASE_URL}/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${env.OPENAI_API_KEY}`, "content-type": "application/json" },
    body: JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: prompt }] }),
  });
  if (!response.ok) throw new Error(`provider answered ${response.status}`);
  return (await response.json()) as Completion;
}

/** Loaded only when asked for, so that the bare worker's memory stays bare. */
async function sdkCaller(): Promise<(prompt: string) => Promise<Completion>> {
  const { default: OpenAI } = await import("openai");
  const sdk = new OpenAI({ apiKey: env.OPENAI_API_KEY, baseURL: env.OPENAI_BASE_URL, maxRetries: 0 });
  return (prompt) =>
    sdk.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: prompt }] });
}

const callProvider = env.REF_PROVIDER_CLIENT === "openai-sdk" ? await sdkCaller() : callWithFetch;

const worker = new Worker(
  "ref-tasks",
  async (job) => {
    const { id, prompt } = job.data as { id: number; prompt: string };
    const body = await callProvider(prompt);
    const { prompt_tokens: input, completion_tokens: output } = body.usage!;
    const cost = usd(BigInt(input) * 150_000n + BigInt(output) * 600_000n);
    await sql.begin(async (tx) => {
      const done = await tx`
        update ref_tasks set status = 'completed', output = ${body.choices[0]!.message.content},
          prompt_tokens = ${input}, completion_tokens = ${output}, tokens_used = ${input + output},
          cost_usd = ${cost}, completed_at = now(), updated_at = now()
        where id = ${id} and status <> 'completed' returning id`;
      if (done.length > 0) {
        await tx`insert into ref_ledger (task_id, amount_usd, occurred_at) values (${id}, ${cost}, now())
          on conflict (task_id) do nothing`;
      }
    });
  },
  { connection, prefix: env.QUEUE_PREFIX!, concurrency },
);
worker.on("error", () => {});

process.once("SIGTERM", async () => {
  await worker.close();
  await sql.end({ timeout: 5 });
  process.exit(0);
});
