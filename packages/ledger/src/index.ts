// The one home of money: every booking of money (the ledger) and of prepaid credit (the credit
// ledger and its balances), whoever describes what happened: Stripe's objects, the task runner,
// an admin. Callers say what happened; the functions here decide what is booked.

export * from "./admin-grants.js";
export * from "./credit.js";
export * from "./credit-holds.js";
export * from "./invariants.js";
export * from "./key-budgets.js";
export * from "./stripe-books.js";
export * from "./stripe-disputes.js";
export * from "./stripe-paid-for.js";
export * from "./stripe-payment-books.js";
export * from "./stripe-payments.js";
export * from "./stripe-refunds.js";
export * from "./stripe-state.js";
export * from "./task-costs.js";
