import { UnavailableError, ValidationError } from "@aitasks/errors";
import { CallbackTargetError, type NetworkPolicy, resolveCallbackTarget } from "./network-policy.js";

/**
 * The submit-time check of a `callback_url`'s host (its syntax is the schema's): it must resolve,
 * and only to public addresses unless the policy allows private networks; a refusal is a 400
 * naming callback_url. A resolver that fails for a moment is a 503: the URL may well be fine.
 * Delivery checks again, against the addresses of that moment.
 */
export function createCallbackUrlCheck(policy: NetworkPolicy) {
  return async (url: string): Promise<void> => {
    try {
      await resolveCallbackTarget(policy, url);
    } catch (error) {
      if (!(error instanceof CallbackTargetError)) throw error;
      if (error.kind === "resolver-unavailable") {
        throw new UnavailableError(`callback_url: ${error.message}; try again shortly`);
      }
      throw new ValidationError(`callback_url: ${error.message}`);
    }
  };
}
