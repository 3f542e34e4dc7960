import { migrateDatabase } from "./migrate.js";

// The one place outside the apps that reads the environment: `npm run db:migrate` needs only this URL.
const url = process.env.DATABASE_URL ?? "postgres://postgres:postgres@127.0.0.1:5432/postgres";
await migrateDatabase(url);
console.log("migrations applied");
