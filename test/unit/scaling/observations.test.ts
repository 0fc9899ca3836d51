import parsePrometheus from "parse-prometheus-text-format";
import { renderMetrics } from "../../../runtime/sample-app/main";
import { IN_FLIGHT_GAUGE, rate, readMetrics, toSample, type MetricFamily } from "../../../core/scaling/observations";

/** A /metrics page exactly as the sample app renders it. */
const page = (requests: [number, number][], inFlight: number, draining = false) =>
  parsePrometheus(
    renderMetrics({
      requests: new Map(requests),
      inFlight,
      draining,
      cpu: { user: 1_000_000, system: 0 },
      rssBytes: 50_000_000,
      uptimeSeconds: 12,
    }),
  ) as MetricFamily[];

describe("core/scaling-metrics", () => {
  it("reads the sample app's gauges (the scrape itself not counted as in flight) and request counters", () => {
    const m = readMetrics(
      page(
        [
          [200, 90],
          [503, 10],
        ],
        4,
        true,
      ),
    );
    expect(m.gauges[IN_FLIGHT_GAUGE]).toBe(3);
    expect(m.gauges.sample_app_draining).toBe(1);
    expect(m.gauges.process_resident_memory_bytes).toBe(50_000_000);
    expect(m.requestsTotal).toBe(100);
    expect(m.errorsTotal).toBe(10);
    expect(readMetrics(page([], 1)).gauges[IN_FLIGHT_GAUGE]).toBe(0);
  });

  it("computes rates between two scrapes; none on the first scrape or after a counter reset", () => {
    expect(rate(10, 30, 2)).toBe(10);
    expect(rate(undefined, 30, 2)).toBeUndefined();
    expect(rate(30, 10, 2)).toBeUndefined();
  });

  it("turns two observations into an engine sample: CPU percent of the container limit, memory percent, rps, error rate", () => {
    const first = toSample(
      {
        id: "a",
        ready: true,
        atMs: 0,
        stats: { cpuTotalNs: 0, memoryUsage: 64e6, memoryLimit: 128e6, cpuLimit: 0.5 },
        metrics: page([[200, 100]], 1),
      },
      undefined,
    );
    expect(first.sample).toEqual({
      id: "a",
      ready: true,
      memoryPercent: 50,
      gauges: expect.objectContaining({ [IN_FLIGHT_GAUGE]: 0 }),
    });
    // 2 s later: 0.5 CPU-seconds used (= 0.25 CPU, half the 0.5 limit), 40 more requests of which 4 failed
    const second = toSample(
      {
        id: "a",
        ready: true,
        atMs: 2000,
        stats: { cpuTotalNs: 0.5e9, memoryUsage: 32e6, memoryLimit: 128e6, cpuLimit: 0.5 },
        metrics: page(
          [
            [200, 136],
            [500, 4],
          ],
          3,
        ),
      },
      first.point,
    );
    expect(second.sample.cpuPercent).toBeCloseTo(50);
    expect(second.sample.memoryPercent).toBe(25);
    expect(second.sample.requestsPerSecond).toBe(20);
    expect(second.sample.errorRate).toBeCloseTo(0.1);
    expect(second.sample.gauges?.[IN_FLIGHT_GAUGE]).toBe(2);
  });
});
