import type { JobName } from "@aitasks/queue";
import { handleDeliverCallback } from "./deliver-callback.js";
import type { JobHandler } from "./job-handler.js";
import { handleReconcileTasks } from "./reconcile-tasks.js";
import { handleRollupReports } from "./rollup-reports.js";
import { handleRunTask } from "./run-task.js";

/** One handler per job of the catalog; the compiler rejects a missing or misspelled one. */
export const handlers: { [N in JobName]: JobHandler<N> } = {
  "run-task": handleRunTask,
  "deliver-callback": handleDeliverCallback,
  "reconcile-tasks": handleReconcileTasks,
  "rollup-reports": handleRollupReports,
};
