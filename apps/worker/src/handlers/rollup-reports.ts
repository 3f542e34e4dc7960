import { rollupReportsAndStats } from "@aitasks/reports";
import type { JobHandler } from "./job-handler.js";

export const handleRollupReports: JobHandler<"rollup-reports"> = (deps, _job, { full }) =>
  rollupReportsAndStats(deps.db, { full });
