import { findPrice, type PricingTable, type ProviderName } from "@aitasks/providers";

/** The label of any model outside the pricing table: a typo or a client's invention adds no series. */
const OTHER_MODEL = "other";

/** A model's label value: its name when the pricing table prices it for that provider, else `other`. */
export function modelLabel(pricing: PricingTable, provider: string, model: string): string {
  return findPrice(pricing, provider as ProviderName, model) ? model : OTHER_MODEL;
}

const METHODS = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]);

/** The label of a request method: one of the usual seven, else `other` (Node accepts dozens more). */
export const methodLabel = (method: string) => (METHODS.has(method) ? method : "other");

/** The label of requests no route matched (404s, whatever the URL). */
const UNMATCHED_ROUTE = "unmatched";

/**
 * The label of a route: its template (`/api/task/:id`), never the URL. `/api/v1` is the same API
 * as `/api`, so its routes count as their `/api` twins.
 */
export function routeLabel(template: string | undefined): string {
  if (!template) return UNMATCHED_ROUTE;
  return template.startsWith("/api/v1/") ? `/api/${template.slice("/api/v1/".length)}` : template;
}
