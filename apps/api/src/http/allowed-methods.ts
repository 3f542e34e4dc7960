import type { FastifyInstance } from "fastify";

/** The methods served at a path, sorted, or undefined for a path no route knows. */
export type AllowedMethods = (path: string) => readonly string[] | undefined;

declare module "fastify" {
  interface FastifyInstance {
    /** Set on the root instance by `collectAllowedMethods`; every plugin's instance inherits it. */
    allowedMethods?: AllowedMethods;
  }
}

interface ParametricRoute {
  pattern: RegExp;
  methods: Set<string>;
  /** `*` or `/*` (CORS's `OPTIONS *`): it serves its methods everywhere, but makes no path known. */
  catchAll: boolean;
}

const escapeRegExp = (text: string) => text.replace(/[.+?^${}()|[\]\\]/g, "\\$&");

/**
 * A find-my-way route path as a regular expression: `:name` is one segment (or what its own
 * `(regex)` says), `*` is the rest, `::` a literal colon.
 */
function patternOf(url: string): RegExp {
  let source = "";
  for (let i = 0; i < url.length; ) {
    if (url.startsWith("::", i)) {
      source += ":";
      i += 2;
    } else if (url[i] === ":") {
      let end = i + 1;
      while (end < url.length && !"/-.:(".includes(url[end] as string)) end++;
      if (url[end] === "(") {
        let depth = 0;
        let close = end;
        for (; close < url.length; close++) {
          if (url[close] === "(") depth++;
          else if (url[close] === ")" && --depth === 0) break;
        }
        source += `(?:${url.slice(end + 1, close).replace(/^\^|\$$/g, "")})`;
        end = close + 1;
      } else {
        source += "[^/]+?";
      }
      i = end;
    } else if (url[i] === "*") {
      source += ".*";
      i++;
    } else {
      source += escapeRegExp(url[i] as string);
      i++;
    }
  }
  return new RegExp(`^${source}$`);
}

/**
 * Records the method and path of every route registered on `app` from now on (call it before
 * registering any), for 405 answers' `Allow`, and decorates `app` with the lookup. Used only for
 * requests no route matched, so a served request pays nothing for it.
 */
export function collectAllowedMethods(app: FastifyInstance): AllowedMethods {
  const staticRoutes = new Map<string, Set<string>>();
  const parametric = new Map<string, ParametricRoute>();
  const add = (url: string, methods: readonly string[]) => {
    if (/[:*]/.test(url)) {
      let route = parametric.get(url);
      if (!route) {
        route = { pattern: patternOf(url), methods: new Set(), catchAll: url === "*" || url === "/*" };
        parametric.set(url, route);
      }
      for (const method of methods) route.methods.add(method);
    } else {
      const served = staticRoutes.get(url) ?? new Set<string>();
      for (const method of methods) served.add(method);
      staticRoutes.set(url, served);
    }
  };
  app.addHook("onRoute", (route) => {
    const methods = [route.method].flat();
    add(route.url, methods);
    // A plugin's root route (`/` under a prefix) also answers at `prefix/`, which onRoute reports
    // only for the HEAD route Fastify adds.
    if (route.prefix && route.url === route.prefix) add(`${route.url}/`, methods);
  });
  const lookup: AllowedMethods = (path) => {
    const methods = new Set(staticRoutes.get(path));
    let known = methods.size > 0;
    for (const route of parametric.values()) {
      if (!route.pattern.test(path)) continue;
      for (const method of route.methods) methods.add(method);
      known ||= !route.catchAll;
    }
    return known ? [...methods].sort() : undefined;
  };
  app.decorate("allowedMethods", lookup);
  return lookup;
}
