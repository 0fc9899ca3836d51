/**
 * Progress for long image work: a cli-progress bar on a terminal, plain log lines otherwise
 * (CI logs), so both show what is happening.
 */
import { SingleBar, Presets } from "cli-progress";

export interface Progress {
  /** Sets the expected total (may grow as more is known). */
  total(n: number): void;
  /** Moves to `value` with a short description of the current step. */
  update(value: number, step: string): void;
  stop(summary: string): void;
}

export function progress(label: string, initialTotal: number): Progress {
  if (process.stderr.isTTY) {
    const bar = new SingleBar(
      {
        format: `${label.padEnd(28)} [{bar}] {percentage}% | {step}`,
        stream: process.stderr,
        hideCursor: true,
        clearOnComplete: false,
      },
      Presets.shades_classic,
    );
    bar.start(initialTotal, 0, { step: "starting" });
    let total = initialTotal;
    return {
      total: (n) => {
        total = n;
        bar.setTotal(n);
      },
      update: (v, step) => bar.update(Math.min(v, total), { step: step.slice(0, 60) }),
      stop: (summary) => {
        bar.update(total, { step: summary });
        bar.stop();
      },
    };
  }
  let lastBucket = -1;
  let total = initialTotal;
  const t0 = Date.now();
  const elapsed = () => `${((Date.now() - t0) / 1000).toFixed(1)} s`;
  return {
    total: (n) => {
      total = n;
    },
    update: (v, step) => {
      const pct = Math.floor((100 * Math.min(v, total)) / Math.max(total, 1));
      // one line per 10 %, not per package
      if (Math.floor(pct / 10) !== lastBucket) {
        process.stderr.write(`${label}: ${pct}% ${step} (${elapsed()})\n`);
        lastBucket = Math.floor(pct / 10);
      }
    },
    stop: (summary) => process.stderr.write(`${label}: ${summary} (${elapsed()})\n`),
  };
}
