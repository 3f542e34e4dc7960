// The overview's charts, drawn in the browser by Chart.js (bundled by `npm run build` into
// dist/dashboard/assets/charts.js and served by the API: nothing is loaded from elsewhere).
// The data comes from the page itself (<script type="application/json" id="chart-data">).
import {
  BarController,
  BarElement,
  CategoryScale,
  Chart,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  Tooltip,
} from "chart.js";

Chart.register(
  BarController,
  BarElement,
  CategoryScale,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  Legend,
  Tooltip,
);

interface ChartData {
  days: string[];
  money: { income: number[]; expenses: number[]; profit: number[] };
  tasksByStatus: Record<string, number[]>;
  costByModel: { label: string; apiCost: number; charged: number }[];
}

const COLORS: Record<string, string> = {
  income: "#2f855a",
  expenses: "#c53030",
  profit: "#2b6cb0",
  pending: "#a0aec0",
  processing: "#d69e2e",
  completed: "#38a169",
  failed: "#e53e3e",
  canceled: "#718096",
};

const dollars = (value: number | string) =>
  `$${Number(value).toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 6 })}`;

function draw(data: ChartData) {
  const days = data.days.map((day) => day.slice(5));
  const common = { responsive: true, maintainAspectRatio: false, animation: false } as const;

  const money = document.getElementById("chart-money");
  if (money instanceof HTMLCanvasElement) {
    new Chart(money, {
      type: "line",
      data: {
        labels: days,
        datasets: (["income", "expenses", "profit"] as const).map((name) => ({
          label: name[0]?.toUpperCase() + name.slice(1),
          data: data.money[name],
          borderColor: COLORS[name],
          backgroundColor: COLORS[name],
          tension: 0.2,
          pointRadius: 2,
        })),
      },
      options: { ...common, scales: { y: { ticks: { callback: dollars } } } },
    });
  }

  const tasks = document.getElementById("chart-tasks");
  if (tasks instanceof HTMLCanvasElement) {
    new Chart(tasks, {
      type: "bar",
      data: {
        labels: days,
        datasets: Object.entries(data.tasksByStatus).map(([status, counts]) => ({
          label: status,
          data: counts,
          backgroundColor: COLORS[status] ?? "#4a5568",
        })),
      },
      options: { ...common, scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true } } },
    });
  }

  const models = document.getElementById("chart-models");
  if (models instanceof HTMLCanvasElement) {
    new Chart(models, {
      type: "bar",
      data: {
        labels: data.costByModel.map((row) => row.label),
        datasets: [
          {
            label: "Provider cost",
            data: data.costByModel.map((row) => row.apiCost),
            backgroundColor: COLORS.expenses,
          },
          { label: "Charged", data: data.costByModel.map((row) => row.charged), backgroundColor: COLORS.profit },
        ],
      },
      options: { ...common, indexAxis: "y", scales: { x: { beginAtZero: true, ticks: { callback: dollars } } } },
    });
  }
}

const source = document.getElementById("chart-data");
if (source?.textContent) draw(JSON.parse(source.textContent) as ChartData);
