import { isUtf8 } from "node:buffer";
import { ValidationError } from "@aitasks/errors";
import type { FastifyInstance } from "fastify";

/**
 * JSON bodies are UTF-8 (RFC 8259 §8.1; a `charset` parameter changes nothing, §11). Fastify's own
 * parser decodes bytes that are not UTF-8 to U+FFFD, so a prompt would be stored with characters
 * silently replaced; this one refuses such a body with a 400 and otherwise parses exactly as Fastify does.
 */
export function useStrictUtf8Json(app: FastifyInstance) {
  const parseJson = app.getDefaultJsonParser("error", "error");
  app.removeContentTypeParser("application/json");
  app.addContentTypeParser("application/json", { parseAs: "buffer" }, (request, body, done) => {
    const bytes = body as Buffer;
    if (!isUtf8(bytes)) {
      done(new ValidationError("body is not valid UTF-8: JSON must be sent encoded as UTF-8"), undefined);
      return;
    }
    parseJson(request, bytes.toString("utf8"), done);
  });
}
