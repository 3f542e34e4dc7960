import type { JobName } from "@aitasks/queue";
import type { JobHandler } from "./job-handler.js";
import { handleReconcileTasks } from "./reconcile-tasks.js";
import { handleRollupReports } from "./rollup-reports.js";
import { handleRunTask } from "./run-task.js";

/** One handler per job of the catalog; the compiler rejects a missing or misspelled one. */
export const handlers: { [N in JobName]: JobHandler<N> } = {
  "run-task": handleRunTask,
  "reconcile-tasks": handleReconcileTasks,
  "rollup-reports": handleRollupReports,
};
