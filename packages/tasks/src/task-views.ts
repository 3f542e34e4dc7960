import type {
  CompletedTask,
  ProviderName as ContractProviderName,
  TaskStatus as ContractTaskStatus,
  PerMillion as PerMillionView,
  SubmittedTask,
  TaskListItem,
  TaskPrice,
  TaskView,
} from "@aitasks/contract";
import { type PerMillion, type ProviderName, readTaskPrice } from "@aitasks/providers";
import type { TaskStatus } from "./schemas.js";
import type { TaskRecord } from "./task-record.js";

// The task JSON shapes of the API (docs/api.md), built here only: the domain returns records. They
// live beside the domain rather than in the API because the worker sends one too: a callback's body
// is the task view. Each builder is typed by its schema in @aitasks/contract (which the serializer
// and GET /openapi.json use), so a field added here and not there, or the reverse, does not compile.

// The contract's lists are the domain's (a compile error otherwise).
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const statusesAgree: Same<TaskStatus, ContractTaskStatus> = true;
const providersAgree: Same<ProviderName, ContractProviderName> = true;
void [statusesAgree, providersAgree];

const iso = (date: Date | null) => (date ? date.toISOString() : null);
// `numeric` arrives as an exact decimal string; JSON carries money as a number (SPEC).
const usd = (amount: string | null) => (amount === null ? null : Number(amount));

const perMillionView = (prices: PerMillion): PerMillionView => ({
  input: Number(prices.input),
  cached_input: Number(prices.cachedInput),
  output: Number(prices.output),
});

/** USD per 1M tokens the task is costed (`cost`) and sold (`sale`) at, as frozen when it was accepted. */
function priceView(price: unknown): TaskPrice | null {
  if (price === null) return null;
  const { cost, sale } = readTaskPrice(price);
  return { cost: perMillionView(cost), sale: perMillionView(sale) };
}

/** The task as GET /api/task/:id shows it (SPEC.md). */
export function toTaskView(task: TaskRecord): TaskView {
  return {
    id: task.id,
    status: task.status,
    provider: task.provider,
    model: task.model,
    input: task.input,
    output: task.output,
    tokens_used: task.tokensUsed,
    prompt_tokens: task.promptTokens,
    completion_tokens: task.completionTokens,
    cached_tokens: task.cachedTokens,
    reasoning_tokens: task.reasoningTokens,
    max_tokens: task.maxOutputTokens,
    priority: task.priority,
    stream: task.stream,
    callback_url: task.callbackUrl,
    cost: usd(task.costUsd),
    charged: usd(task.chargedUsd),
    price: priceView(task.price),
    user_id: task.userIdentifier,
    attempts: task.attempts,
    error: task.error,
    created_at: task.createdAt.toISOString(),
    started_at: iso(task.startedAt),
    completed_at: iso(task.completedAt),
  };
}

/** The original API's answer for a finished task (POST /api/task?wait=N). */
export function toCompletedAnswer(task: TaskRecord): CompletedTask {
  return {
    task_id: task.id,
    status: task.status,
    response: task.output,
    tokens_used: task.tokensUsed,
    cost: usd(task.costUsd),
    provider: task.provider,
  };
}

/** The 202 answer of POST /api/task. */
export function toSubmitted(task: Pick<TaskRecord, "id" | "status" | "provider">): SubmittedTask {
  return { task_id: task.id, status: task.status, provider: task.provider };
}

/** An item of GET /api/tasks. */
export function toTaskListItem(task: TaskRecord): TaskListItem {
  return {
    id: task.id,
    status: task.status,
    provider: task.provider,
    model: task.model,
    user_id: task.userIdentifier,
    tokens_used: task.tokensUsed,
    cost: usd(task.costUsd),
    error: task.error,
    created_at: task.createdAt.toISOString(),
    completed_at: iso(task.completedAt),
  };
}
