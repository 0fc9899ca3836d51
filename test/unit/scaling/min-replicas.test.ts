import { minReplicasDecision, podSamples, type PodInfo } from "../../../core/scaling/min-replicas";

const pod = (name: string, over: Partial<PodInfo> = {}): PodInfo => ({
  name,
  phase: "Running",
  ready: true,
  terminating: false,
  cpuRequestCores: 0.25,
  memoryRequestBytes: 256 * 2 ** 20,
  ...over,
});

describe("podSamples", () => {
  it("measures utilization against the requests, like the HPA", () => {
    const s = podSamples(
      [pod("a"), pod("b", { cpuRequestCores: 0.5 })],
      [
        { name: "a", cpuCores: 0.2, memoryBytes: 128 * 2 ** 20 },
        { name: "b", cpuCores: 0.1, memoryBytes: 64 * 2 ** 20 },
      ],
    );
    expect(s).toEqual([
      { id: "a", ready: true, phase: "running", cpuPercent: 80, memoryPercent: 50 },
      { id: "b", ready: true, phase: "running", cpuPercent: 20, memoryPercent: 25 },
    ]);
  });

  it("leaves out terminating and finished pods, marks pending ones, and reports no value without a request or usage", () => {
    const s = podSamples(
      [
        pod("gone", { terminating: true }),
        pod("done", { phase: "Succeeded" }),
        pod("failed", { phase: "Failed" }),
        pod("new", { phase: "Pending", ready: false }),
        pod("noreq", { cpuRequestCores: undefined }),
        pod("nometrics"),
      ],
      [{ name: "noreq", cpuCores: 0.3, memoryBytes: 2 ** 27 }],
    );
    expect(s).toEqual([
      { id: "new", ready: false, phase: "pending" },
      { id: "noreq", ready: true, phase: "running", memoryPercent: 50 },
      { id: "nometrics", ready: true, phase: "running" },
    ]);
  });
});

describe("minReplicasDecision", () => {
  const base = { minSize: 2, maxSize: 10, currentMinReplicas: 2, forecastOnly: false };

  it("raises minReplicas to the forecast and patches", () => {
    expect(minReplicasDecision({ ...base, forecastDesired: 5 })).toMatchObject({ minReplicas: 5, patch: true });
  });

  it("never goes below the configured minimum, and returns to it when the forecast falls", () => {
    expect(minReplicasDecision({ ...base, forecastDesired: 1 })).toMatchObject({ minReplicas: 2, patch: false });
    expect(minReplicasDecision({ ...base, currentMinReplicas: 6, forecastDesired: 1 })).toMatchObject({
      minReplicas: 2,
      patch: true,
    });
    expect(minReplicasDecision({ ...base, currentMinReplicas: 6, forecastDesired: undefined })).toMatchObject({
      minReplicas: 2,
      patch: true,
    });
  });

  it("never goes above the maximum", () => {
    expect(minReplicasDecision({ ...base, forecastDesired: 40 })).toMatchObject({ minReplicas: 10, patch: true });
  });

  it("patches only on a change", () => {
    const d = minReplicasDecision({ ...base, currentMinReplicas: 5, forecastDesired: 5 });
    expect(d).toMatchObject({ minReplicas: 5, patch: false });
    expect(d.reason).toMatch(/unchanged/);
  });

  it("treats an unset minReplicas as the API default 1", () => {
    expect(minReplicasDecision({ ...base, currentMinReplicas: undefined, forecastDesired: undefined })).toMatchObject({
      minReplicas: 2,
      patch: true,
    });
  });

  it("in forecast-only mode reports but never patches", () => {
    const d = minReplicasDecision({ ...base, forecastOnly: true, forecastDesired: 7 });
    expect(d).toMatchObject({ minReplicas: 7, patch: false });
    expect(d.reason).toMatch(/forecast-only: would change 2 → 7/);
  });

  it("refuses bad bounds", () => {
    expect(() => minReplicasDecision({ ...base, minSize: 5, maxSize: 3, forecastDesired: 4 })).toThrow(
      /minSize 5, maxSize 3/,
    );
  });
});
