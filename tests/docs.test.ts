// The README and docs/ are the repository's own documentation: everything they point to is in it.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { HANDLED_STRIPE_EVENTS } from "@aitasks/billing";
import { repoRoot } from "@aitasks/testing";
import { describe, expect, it } from "vitest";

const pages = ["README.md", ...readdirSync(join(repoRoot, "docs")).map((name) => `docs/${name}`)].filter((page) =>
  page.endsWith(".md"),
);

describe.each(pages)("%s", (page) => {
  const text = readFileSync(join(repoRoot, page), "utf8");

  it("links only to files of the repository, and they exist", () => {
    for (const [, target] of text.matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)) {
      if (/^[a-z]+:/i.test(target!)) continue;
      const path = resolve(dirname(join(repoRoot, page)), target!);
      expect(relative(repoRoot, path).startsWith(".."), `${page} links outside the repository: ${target}`).toBe(false);
      expect(existsSync(path), `${page} links to a missing file: ${target}`).toBe(true);
    }
  });

  it("names no path outside the repository", () => {
    expect(text).not.toMatch(/(^|[\s`(])\.\.\/[\w.-]/m);
  });
});

describe("docs/money.md", () => {
  it("asks for every Stripe event the webhook handles", () => {
    const text = readFileSync(join(repoRoot, "docs/money.md"), "utf8");
    const setup = text.slice(text.indexOf("**Stripe setup.**"), text.indexOf("**What gets booked.**"));
    for (const type of HANDLED_STRIPE_EVENTS) expect(setup, type).toContain(`\`${type}\``);
  });
});
