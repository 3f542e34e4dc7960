import { migrateDatabase } from "./migrate.js";
import { DEFAULT_DATABASE_URL } from "./rules.js";

// The one place outside the apps that reads the environment: `npm run db:migrate` needs only this URL.
const url = process.env.DATABASE_URL || DEFAULT_DATABASE_URL;
await migrateDatabase(url);
console.log("migrations applied");
