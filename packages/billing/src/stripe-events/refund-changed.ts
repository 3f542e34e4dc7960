import { RefundObject } from "../schemas.js";
import { defineHandler, eventTime } from "./handler.js";
import { bookRefund } from "./refund-booking.js";
import { balanceTransaction } from "./settlement.js";

/**
 * `refund.created`, `refund.updated`, `refund.failed` and `charge.refund.updated`: the refund in the
 * event, booked once, and reversed once it has failed or was canceled.
 */
export const refundChanged = defineHandler<typeof RefundObject, Awaited<ReturnType<typeof balanceTransaction>>>(
  RefundObject,
  (tx, event, refund, { prepared }) => bookRefund(tx, refund, prepared, eventTime(event)),
  (refund, { stripe }) => balanceTransaction(stripe, refund.balance_transaction),
);
