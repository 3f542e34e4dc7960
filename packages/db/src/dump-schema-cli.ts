import { writeFileSync } from "node:fs";
import { dumpMigratedSchema, schemaDumpFile } from "./dump-schema.js";
import { chooseMigrationTarget } from "./migrate.js";
import { DEFAULT_DATABASE_URL } from "./rules.js";

// `npm run db:dump-schema`: the server that `npm run db:migrate` would use hosts a scratch database
// (it needs a direct connection, as migrations do); the user's own database is never read.
const target = chooseMigrationTarget(
  process.env.DATABASE_URL || DEFAULT_DATABASE_URL,
  process.env.DATABASE_MIGRATION_URL || undefined,
);
if ("refusal" in target) {
  console.error(target.refusal);
  process.exit(1);
}
try {
  writeFileSync(schemaDumpFile, await dumpMigratedSchema(target.url));
} catch (error) {
  console.error(`schema dump failed on ${target.variable}: ${(error as Error).message}`);
  process.exit(1);
}
console.log(`wrote ${schemaDumpFile}`);
