import { foldStatsDeltas, rollupReports } from "@aitasks/reports";
import type { JobHandler } from "./job-handler.js";

// The stats' deltas are folded on the same schedule, after the reports. In a transaction: as a lone
// autocommit statement through PgBouncer 1.18 (no parameters, so postgres.js's simple protocol) the
// fold stalled the prepaid tasks of tests/e2e/pgbouncer.test.ts in 3 runs of 5; in a transaction,
// 0 of 8 (not understood yet: docs/scaling.md).
export const handleRollupReports: JobHandler<"rollup-reports"> = async (deps, _job, { full }) => {
  const result = await rollupReports(deps.db, { full });
  await deps.db.transaction((tx) => foldStatsDeltas(tx));
  return result;
};
