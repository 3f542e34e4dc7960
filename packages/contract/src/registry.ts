import { z } from "zod";

/**
 * The named schemas of the contract: the OpenAPI document lists each under
 * `components.schemas.<id>` and refers to it from every route that answers with it. A registry of
 * our own rather than zod's global one, so that a schema converted alone (for Fastify's
 * serializer) is inlined whole instead of pointing at definitions elsewhere.
 */
export const contractSchemas = z.registry<{ id: string }>();

/** Registers `schema` under `id` and returns it, so that a definition reads `export const X = named("X", ...)`. */
export function named<S extends z.ZodType>(id: string, schema: S): S {
  contractSchemas.add(schema as z.ZodType, { id });
  return schema;
}

/** A time as the API writes it: ISO 8601, UTC, milliseconds (`2025-01-15T10:30:00.000Z`). */
export const Timestamp = z.iso.datetime();

/** A UTC day, `YYYY-MM-DD`. */
export const Day = z.iso.date();

/** US dollars (or the currency named beside it) as a JSON number; exact inside, the nearest double here. */
export const Money = z.number();

/** Row ids and counters. */
export const Count = z.int();
