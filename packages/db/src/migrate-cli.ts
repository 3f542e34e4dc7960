import { chooseMigrationTarget, migrateDatabase } from "./migrate.js";
import { DEFAULT_DATABASE_URL } from "./rules.js";

// The one place outside the apps that reads the environment: `npm run db:migrate` needs only the
// URLs, and chooses between them as the processes do (empty counts as unset, as there).
const target = chooseMigrationTarget(
  process.env.DATABASE_URL || DEFAULT_DATABASE_URL,
  process.env.DATABASE_MIGRATION_URL || undefined,
);
if ("refusal" in target) {
  console.error(target.refusal);
  process.exit(1);
}
try {
  await migrateDatabase(target.url, target.variable);
} catch (error) {
  console.error(`migrations failed on ${target.variable}: ${(error as Error).message}`);
  process.exit(1);
}
console.log(`migrations applied (${target.variable})`);
