import { amountToNumber } from "@aitasks/db";
import { QUEUE_JOB_STATES, type QueueJobCounts } from "@aitasks/queue";
import type { DailySeries, Report } from "@aitasks/reports";
import { html, jsonData } from "../html.js";
import { count, marginPercent, money, when } from "./format.js";
import { type Chrome, page } from "./layout.js";

export interface Overview {
  date: string;
  reports: Record<"daily" | "weekly" | "monthly", Report>;
  series: DailySeries;
  /** Undefined when Redis did not answer in time. */
  queues: QueueJobCounts | undefined;
}

const PERIOD_LABELS = { daily: "Day", weekly: "Week", monthly: "Month" } as const;

function periodCard(period: keyof typeof PERIOD_LABELS, report: Report) {
  const range = report.start === report.end ? report.start : `${report.start} – ${report.end}`;
  return html`<section class="card" data-period="${period}">
  <h2>${PERIOD_LABELS[period]} <small>${range}</small></h2>
  <dl class="figures">
    <div><dt>Income</dt><dd>${money(report.income, `${period}-income`)}</dd></div>
    <div><dt>Expenses</dt><dd>${money(report.expenses, `${period}-expenses`)}</dd></div>
    <div><dt>Profit</dt><dd>${money(report.profit, `${period}-profit`)}</dd></div>
    <div><dt>Margin</dt><dd data-figure="${period}-margin">${marginPercent(report.profit, report.income)}</dd></div>
  </dl>
  <p class="usage">Tasks charged ${money(report.usage.charged, `${period}-charged`)}, provider cost
    ${money(report.usage.apiCost, `${period}-api-cost`)}, margin ${money(report.usage.margin, `${period}-usage-margin`)}</p>
</section>`;
}

function queueTable(queues: QueueJobCounts | undefined) {
  if (!queues) return html`<p class="problem">Redis did not answer: the queues' depth is unknown right now.</p>`;
  return html`<div class="table-scroll"><table class="queues">
  <thead><tr><th>Queue</th>${QUEUE_JOB_STATES.map((state) => html`<th>${state}</th>`)}</tr></thead>
  <tbody>${queues.map(
    ({ queue, counts }) =>
      html`<tr data-queue="${queue}"><th>${queue}</th>${QUEUE_JOB_STATES.map(
        (state) => html`<td data-state="${state}">${count(counts[state] ?? 0)}</td>`,
      )}</tr>`,
  )}</tbody>
</table></div>`;
}

/** What the charts script draws: amounts as numbers (for drawing only: the figures above are exact). */
function chartData(series: DailySeries) {
  const dollars = (values: bigint[]) => values.map(amountToNumber);
  return {
    days: series.days,
    money: { income: dollars(series.income), expenses: dollars(series.expenses), profit: dollars(series.profit) },
    tasksByStatus: series.tasksByStatus,
    costByModel: series.costByModel.map((row) => ({
      label: `${row.provider} ${row.model}`,
      apiCost: amountToNumber(row.apiCost),
      charged: amountToNumber(row.charged),
    })),
  };
}

export function overviewPage(overview: Overview, chrome: Chrome) {
  const { reports, series } = overview;
  const first = series.days[0];
  const last = series.days.at(-1);
  return page(
    "Overview",
    html`<div class="title-row">
  <h1>Overview</h1>
  <form method="get" action="/dashboard" class="inline">
    <label>Day <input type="date" name="date" value="${overview.date}" required></label>
    <button type="submit">Show</button>
  </form>
</div>
<p class="note">Money as of the last rollup: ${when(reports.daily.generatedAt)}. Days are UTC.</p>
<div class="cards">${(["daily", "weekly", "monthly"] as const).map((period) => periodCard(period, reports[period]))}</div>
<section class="charts">
  <h2>The last ${series.days.length} days <small>${first} – ${last}</small></h2>
  <figure><figcaption>Money per day</figcaption><div class="chart"><canvas id="chart-money" aria-label="Income, expenses and profit per day" role="img"></canvas></div></figure>
  <figure><figcaption>Tasks per day, by status now</figcaption><div class="chart"><canvas id="chart-tasks" aria-label="Tasks created per day by status" role="img"></canvas></div></figure>
  <figure><figcaption>Provider cost and charges by model</figcaption><div class="chart"><canvas id="chart-models" aria-label="Cost by model" role="img"></canvas></div></figure>
</section>
<section>
  <h2>The queues now</h2>
  ${queueTable(overview.queues)}
</section>
${jsonData("chart-data", chartData(series))}`,
    { section: "overview", chrome, scripts: ["charts.js"] },
  );
}
