import { rollupReports } from "@aitasks/reports";
import type { JobHandler } from "./job-handler.js";

export const handleRollupReports: JobHandler<"rollup-reports"> = (deps, _job, { full }) =>
  rollupReports(deps.db, { full });
