import { foldStatsDeltas, rollupReports } from "@aitasks/reports";
import type { JobHandler } from "./job-handler.js";

// The stats' deltas are folded on the same schedule, after the reports.
export const handleRollupReports: JobHandler<"rollup-reports"> = async (deps, _job, { full }) => {
  const result = await rollupReports(deps.db, { full });
  await foldStatsDeltas(deps.db);
  return result;
};
