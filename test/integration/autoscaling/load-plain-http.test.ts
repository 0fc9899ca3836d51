/**
 * Load acceptance (issue 19) with an image that knows nothing of scaleplane: Debian's nginx
 * (scaleplane/plain-http), drained by the load balancer alone and stopped with its own STOPSIGNAL.
 * GET /slow holds each request 1 s (the echo module's echo_sleep). See ./load-acceptance.ts.
 */
import { PLAIN_IMAGE, PLAIN_LAUNCH_SPEC } from "./group-harness";
import { loadAcceptance } from "./load-acceptance";

describe("Docker group of a plain image under 100+ concurrent requests", () => {
  loadAcceptance({
    prefix: "ld-plain",
    image: PLAIN_IMAGE,
    path: "/slow",
    launchSpec: PLAIN_LAUNCH_SPEC,
  });
});
