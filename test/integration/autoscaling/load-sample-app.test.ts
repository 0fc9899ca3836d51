/**
 * Load acceptance (issue 19) with the sample app: drained at the load balancer, told to drain
 * itself through its optional POST /shutdown, stopped with SIGTERM. GET /work?ms=1000 holds each
 * request 1 s. See ./load-acceptance.ts.
 */
import { SAMPLE_IMAGE } from "./group-harness";
import { loadAcceptance } from "./load-acceptance";

describe("Docker group of the sample app under 100+ concurrent requests", () => {
  loadAcceptance({
    prefix: "ld-sample",
    image: SAMPLE_IMAGE,
    path: "/work?ms=1000",
    launchSpec: {
      port: 8080,
      healthPath: "/health",
      env: { PORT: "8080", DRAIN_SECONDS: "1", DRAIN_MAX_SECONDS: "20" },
      cpus: 0.25,
      memoryMb: 128,
      drainSeconds: 1,
      drainMaxSeconds: 30,
      healthCheckGraceSeconds: 30,
      stopTimeoutSeconds: 25,
      shutdownPath: "/shutdown",
    },
  });
});
