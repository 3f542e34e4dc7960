// `npm run reports:rollup [-- --full]`: rolls the reports up and folds the stats' deltas now, as the
// scheduled job does.
import { CommonEnv, ConfigError, parseEnv } from "@aitasks/config";
import { createDatabase } from "@aitasks/db";
import { rollupReportsAndStats } from "@aitasks/reports";

let databaseUrl: string;
try {
  databaseUrl = parseEnv(CommonEnv, process.env).DATABASE_URL;
} catch (error) {
  console.error(error instanceof ConfigError ? error.message : error);
  process.exit(1);
}
const database = createDatabase(databaseUrl, { max: 1 });
try {
  const full = process.argv.includes("--full");
  const result = await rollupReportsAndStats(database.db, { full });
  console.log(`${full ? "full " : ""}rollup done: ${result.rows} rows at ${result.generatedAt.toISOString()}`);
} finally {
  await database.close();
}
