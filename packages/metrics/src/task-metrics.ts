import { PROVIDER_ERROR_KINDS, type PricingTable, providerErrorKind, type TokenUsage } from "@aitasks/providers";
import { Counter, Histogram, type Registry } from "prom-client";
import { modelLabel } from "./labels.js";

// LLM calls take from tens of milliseconds (a cached or tiny answer) to minutes (a long reasoning
// answer, a backlog): 50 ms up to 10 minutes.
const TASK_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600];

interface Task {
  provider: string;
  model: string;
}

/**
 * The task metrics of a worker process: `aitasks_tasks_total`, `aitasks_task_duration_seconds`,
 * `aitasks_provider_errors_total` and `aitasks_tokens_total`, fed by the run-task observer
 * (RunTaskObserver's shape).
 */
export function createTaskMetrics(registry: Registry, pricing: PricingTable) {
  const tasks = new Counter({
    name: "aitasks_tasks_total",
    help: "Tasks this worker finished, by provider, model (priced models; others as `other`) and final status",
    labelNames: ["provider", "model", "status"] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: "aitasks_task_duration_seconds",
    help: "queued: creation to first start; provider: one provider call; total: creation to completed or failed",
    labelNames: ["phase"] as const,
    buckets: TASK_BUCKETS,
    registers: [registry],
  });
  const errors = new Counter({
    name: "aitasks_provider_errors_total",
    help: `Failed provider calls, by provider and kind (${PROVIDER_ERROR_KINDS.join(", ")})`,
    labelNames: ["provider", "kind"] as const,
    registers: [registry],
  });
  // OpenAI's Usage API reports cached input inside input, as our usage does: kinds overlap the same way.
  const tokens = new Counter({
    name: "aitasks_tokens_total",
    help: "Tokens of the provider calls this worker booked (api_cost), as the provider reported them, by provider, model and kind: input (cached_input is part of it) and output (reasoning is part of it)",
    labelNames: ["provider", "model", "kind"] as const,
    registers: [registry],
  });
  return {
    firstClaimed(_task: Task, queuedSeconds: number) {
      duration.observe({ phase: "queued" }, Math.max(0, queuedSeconds));
    },
    providerCalled(task: Task, seconds: number, error?: unknown) {
      duration.observe({ phase: "provider" }, seconds);
      if (error !== undefined) errors.inc({ provider: task.provider, kind: providerErrorKind(error) });
    },
    usageBooked(task: Task, usage: TokenUsage) {
      const labels = { provider: task.provider, model: modelLabel(pricing, task.provider, task.model) };
      tokens.inc({ ...labels, kind: "input" }, usage.promptTokens);
      tokens.inc({ ...labels, kind: "cached_input" }, usage.cachedTokens);
      tokens.inc({ ...labels, kind: "output" }, usage.completionTokens);
      tokens.inc({ ...labels, kind: "reasoning" }, usage.reasoningTokens);
    },
    finished(task: Task, status: "completed" | "failed", totalSeconds: number) {
      tasks.inc({ provider: task.provider, model: modelLabel(pricing, task.provider, task.model), status });
      duration.observe({ phase: "total" }, Math.max(0, totalSeconds));
    },
  };
}
export type TaskMetrics = ReturnType<typeof createTaskMetrics>;
