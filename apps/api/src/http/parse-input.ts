import { ValidationError } from "@aitasks/errors";
import type { z } from "zod";

/** Validates input at the edge; the first problem becomes a 400 the client can act on. */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown): z.infer<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const field = issue?.path.join(".");
  const message = issue?.message ?? "invalid input";
  // Our messages already name their field; zod's generic ones do not.
  throw new ValidationError(field && !message.includes(field) ? `${field}: ${message}` : message);
}
