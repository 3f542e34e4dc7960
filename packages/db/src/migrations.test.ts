// Migrations are history: once committed, a migration file never changes (a database that applied
// it would never see the change). packages/db/migrations.sha256 lists each committed migration's
// SHA-256 (`sha256sum` format); a new migration adds its line, an edited one fails here.
import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { migrationsFolder } from "./migrate.js";

const recorded = new Map(
  readFileSync(join(migrationsFolder, "..", "migrations.sha256"), "utf8")
    .split("\n")
    .filter(Boolean)
    .map((line) => {
      const [hash, file] = line.split(/\s+\*?/);
      return [file!, hash!] as const;
    }),
);
const files = readdirSync(migrationsFolder).filter((file) => file.endsWith(".sql"));

describe("committed migrations", () => {
  it.each(files)("%s is unchanged since it was committed", (file) => {
    const hash = createHash("sha256")
      .update(readFileSync(join(migrationsFolder, file)))
      .digest("hex");
    expect(
      recorded.get(file),
      `${file} is not in packages/db/migrations.sha256: add its line (cd packages/db/migrations && sha256sum ${file})`,
    ).toBeDefined();
    expect(hash, `${file} changed after it was committed: add a new migration instead`).toBe(recorded.get(file));
  });

  it("are all in drizzle's journal, and the journal names no missing file", () => {
    const journal = JSON.parse(readFileSync(join(migrationsFolder, "meta", "_journal.json"), "utf8")) as {
      entries: { tag: string }[];
    };
    expect(journal.entries.map((entry) => `${entry.tag}.sql`)).toEqual(files);
    expect([...recorded.keys()]).toEqual(files);
  });
});
