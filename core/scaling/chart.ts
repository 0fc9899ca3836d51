/**
 * A hand-written SVG chart of a simulation: one panel per engine, demand (grey area) against the
 * ready capacity the engine provided (coloured line), with the seconds in violation marked red
 * under the panel. Pure (returns the SVG text); no charting dependency for one kind of chart.
 */
import type { CostReport } from "./cost-report";
import type { EngineRun } from "./simulate";

const COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#17becf"];

const esc = (s: string): string => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/** Buckets `xs` into at most `width` points (mean per bucket). */
function downsample(xs: readonly number[], width: number): number[] {
  if (xs.length <= width) return [...xs];
  const out: number[] = [];
  for (let i = 0; i < width; i++) {
    const a = Math.floor((i * xs.length) / width);
    const b = Math.max(a + 1, Math.floor(((i + 1) * xs.length) / width));
    let s = 0;
    for (let j = a; j < b; j++) s += xs[j];
    out.push(s / (b - a));
  }
  return out;
}

export function simulationSvg(title: string, subtitle: string, runs: readonly EngineRun[]): string {
  const W = 1200;
  const left = 70;
  const right = 20;
  const panelH = 150;
  const gap = 40;
  const top = 60;
  const plotW = W - left - right;
  const H = top + runs.length * (panelH + gap) + 20;
  const maxY =
    Math.max(1, ...runs.flatMap((r) => [Math.max(...r.series.demand), Math.max(...r.series.capacity)])) * 1.05;
  const seconds = runs[0]?.series.t.at(-1) ?? 1;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${left}" y="22" font-size="16" font-weight="bold">${esc(title)}</text>`,
    `<text x="${left}" y="42" fill="#555">${esc(subtitle)}</text>`,
  ];
  runs.forEach((run, k) => {
    const y0 = top + k * (panelH + gap);
    const n = Math.min(plotW, run.series.t.length);
    const demand = downsample(run.series.demand, n);
    const capacity = downsample(run.series.capacity, n);
    const x = (i: number) => (left + (i / Math.max(1, n - 1)) * plotW).toFixed(1);
    const y = (v: number) => (y0 + panelH - (v / maxY) * panelH).toFixed(1);
    const color = COLORS[k % COLORS.length];
    const f = run.figures;
    parts.push(`<g>`);
    parts.push(`<rect x="${left}" y="${y0}" width="${plotW}" height="${panelH}" fill="none" stroke="#ccc"/>`);
    parts.push(
      `<text x="${left}" y="${y0 - 6}" font-weight="bold" fill="${color}">${esc(f.engine)}</text><text x="${left + 110}" y="${y0 - 6}" fill="#333">${esc(`SLO violation ${f.violationMinutes.toFixed(1)} min · ${f.instanceHours.toFixed(1)} instance-hours · $${f.cost.toFixed(2)} · max ${f.maxInstances} instances`)}</text>`,
    );
    parts.push(
      `<polygon fill="#bbb" fill-opacity="0.6" points="${x(0)},${y(0)} ${demand.map((d, i) => `${x(i)},${y(d)}`).join(" ")} ${x(n - 1)},${y(0)}"/>`,
    );
    parts.push(
      `<polyline fill="none" stroke="${color}" stroke-width="1.5" points="${capacity.map((c, i) => `${x(i)},${y(c)}`).join(" ")}"/>`,
    );
    // Violation marks: a pixel whose time had demand above capacity.
    const violation = downsample(run.series.violationSeconds, n);
    const marks = violation
      .map((v, i) =>
        v > 0
          ? `<rect x="${x(i)}" y="${y0 + panelH + 2}" width="${Math.max(1, plotW / n).toFixed(1)}" height="5" fill="#d62728"/>`
          : "",
      )
      .join("");
    parts.push(marks);
    parts.push(
      `<text x="${left - 6}" y="${y0 + 10}" text-anchor="end" fill="#555">${Math.round(maxY)}</text><text x="${left - 6}" y="${y0 + panelH}" text-anchor="end" fill="#555">0</text>`,
    );
    parts.push(`</g>`);
  });
  parts.push(
    `<text x="${left}" y="${H - 6}" fill="#555">${esc(`time → (${(seconds / 3600).toFixed(1)} simulated hours) · grey: demand (requests/s) · line: ready capacity · red: demand above capacity`)}</text>`,
  );
  parts.push(`</svg>`);
  return parts.join("\n");
}

/**
 * The `--cost` chart: mean $/hour of each option (bars, one colour per cloud), and the total over
 * the trace against the committed amount (one line per cloud and commitment kind, its minimum
 * marked).
 */
export function costSvg(title: string, subtitle: string, report: CostReport): string {
  const W = 1200;
  const left = 290;
  const top = 60;
  const barH = 18;
  const barsH = report.options.length * (barH + 6);
  const curveTop = top + barsH + 50;
  const curveH = 260;
  const H = curveTop + curveH + 60;
  const plotW = W - left - 40;
  const clouds = [...new Set(report.options.map((o) => o.cloud))];
  const color = (cloud: string) => COLORS[clouds.indexOf(cloud) % COLORS.length];
  const maxRate = Math.max(1e-9, ...report.options.map((o) => o.perHour));
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="20" y="22" font-size="16" font-weight="bold">${esc(title)}</text>`,
    `<text x="20" y="42" fill="#555">${esc(subtitle)}</text>`,
  ];
  report.options.forEach((o, i) => {
    const y = top + i * (barH + 6);
    const w = (o.perHour / maxRate) * (plotW - 260);
    parts.push(
      `<text x="${left - 8}" y="${y + 13}" text-anchor="end">${esc(`${o.cloud}: ${o.option}`)}</text>`,
      `<rect x="${left}" y="${y}" width="${w.toFixed(1)}" height="${barH}" fill="${color(o.cloud)}" fill-opacity="${o.option === "on-demand hpa" ? 0.4 : 0.85}"/>`,
      `<text x="${(left + w + 6).toFixed(1)}" y="${y + 13}" fill="#333">${esc(`$${o.perHour.toFixed(4)}/h · $${o.total.toFixed(2)} · ${o.vsOnDemandHpa.toFixed(2)}× on-demand hpa${o.committedUnits > 0 ? ` · ${o.committedUnits} units committed ($${o.commitmentPerHour.toFixed(4)}/h)` : ""}`)}</text>`,
    );
  });
  // Total over the trace against the committed amount.
  const all = report.curves.flatMap((c) => c.curve.points);
  if (all.length > 0) {
    const maxU = Math.max(1, ...all.map((p) => p.units));
    const maxT = Math.max(...all.map((p) => p.total)) * 1.05;
    const cx = (u: number) => (left + (u / maxU) * plotW).toFixed(1);
    const cy = (t: number) => (curveTop + curveH - (t / maxT) * curveH).toFixed(1);
    parts.push(
      `<text x="${left}" y="${curveTop - 10}" font-weight="bold">total $ over the trace against the committed capacity units (dashed: savings plan; dot: the minimum)</text>`,
      `<rect x="${left}" y="${curveTop}" width="${plotW}" height="${curveH}" fill="none" stroke="#ccc"/>`,
      `<text x="${left - 6}" y="${curveTop + 10}" text-anchor="end" fill="#555">$${maxT.toFixed(0)}</text><text x="${left - 6}" y="${curveTop + curveH}" text-anchor="end" fill="#555">0</text>`,
      `<text x="${left}" y="${curveTop + curveH + 16}" fill="#555">0</text><text x="${left + plotW}" y="${curveTop + curveH + 16}" text-anchor="end" fill="#555">${maxU} units</text>`,
    );
    for (const { cloud, curve } of report.curves) {
      parts.push(
        `<polyline fill="none" stroke="${color(cloud)}" stroke-width="1.5"${curve.kind === "savingsPlan" ? ' stroke-dasharray="5,3"' : ""} points="${curve.points.map((p) => `${cx(p.units)},${cy(p.total)}`).join(" ")}"/>`,
        `<circle cx="${cx(curve.best.units)}" cy="${cy(curve.best.total)}" r="4" fill="${color(cloud)}"/>`,
      );
    }
  }
  parts.push(
    `<text x="20" y="${H - 10}" fill="#555">${esc(`${report.hours.toFixed(1)} simulated hours · committed capacity is paid every hour whether used or not`)}</text>`,
    `</svg>`,
  );
  return parts.join("\n");
}
