import { FIRST_DAY, LAST_DAY, LedgerQuery, ReportQuery, reportDay } from "@aitasks/reports";
import { ListTasksQuery } from "@aitasks/tasks";
import { z } from "zod";

// The dashboard's forms and links, validated once here. An empty field of a GET form is sent as
// `name=`: it means "not given".
const blankIsAbsent = (value: unknown) => (value === "" ? undefined : value);
const formObject = <Shape extends z.ZodRawShape>(shape: Shape) =>
  z.preprocess(
    (value) =>
      value && typeof value === "object"
        ? Object.fromEntries(Object.entries(value).map(([key, field]) => [key, blankIsAbsent(field)]))
        : value,
    z.object(shape),
  );

export const OverviewQuery = formObject({ date: ReportQuery.shape.date });

export const TasksQuery = formObject({
  status: ListTasksQuery.shape.status,
  user_id: ListTasksQuery.shape.user_id,
  cursor: z.string().max(200, "cursor is not valid: follow the page's own link").optional(),
});

export const OpenTaskQuery = z.object({
  id: z.string().regex(/^[1-9]\d{0,17}$/, "a task id is a positive whole number"),
});

// A month is answered when its first day is: the reports' days bound it.
const firstDayOf = reportDay("month");
export const UsersQuery = formObject({
  month: z
    .string()
    .regex(/^\d{4}-(0[1-9]|1[0-2])$/, "month must be YYYY-MM")
    .refine(
      (month) => firstDayOf.safeParse(`${month}-01`).success,
      `month must be from ${FIRST_DAY.slice(0, 7)} to ${LAST_DAY.slice(0, 7)}`,
    )
    .optional(),
});

export { LedgerQuery };

/** Where a sign-in may lead: a dashboard or queue-board path of this site, never another site. */
const SafeNext = z
  .string()
  .max(2000)
  .regex(/^\/(dashboard|admin\/queues)(?=[/?]|$)[^\\\s]*$/)
  .refine((path) => !path.startsWith("//"))
  .catch("/dashboard");

export const SignInQuery = z.object({ next: SafeNext.default("/dashboard") });

export const SignInForm = z.object({
  key: z.string({ error: "enter an admin key" }).trim().min(1, "enter an admin key").max(1000, "this is no admin key"),
  next: SafeNext.default("/dashboard"),
});

/** A form that changes something carries the session's form token. */
export const GuardedForm = z.object({ csrf: z.string().max(200).optional() });
