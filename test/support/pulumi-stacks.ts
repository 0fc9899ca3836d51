/**
 * Jest setup (setupFilesAfterEnv): keeps the Pulumi SDK's promise-debugging stacks out of jest's
 * source-map lookups.
 *
 * Jest installs source-map-support in every test file, so each `error.stack` is rebuilt frame by
 * frame through source maps. The SDK takes `new Error().stack` for every promise it creates
 * (`debuggablePromise`, runtime/debuggable.js) and only ever prints it when hunting promise leaks
 * (PULUMI_DEBUG_PROMISE_LEAKS). Mapping those stacks was about a quarter of a component test's
 * CPU. They are formatted the way V8 formats them by default instead; every other stack (test
 * failures, thrown errors, the SDK's resource source positions) is still source-mapped. With
 * PULUMI_DEBUG_PROMISE_LEAKS set, nothing changes, so leak reports keep mapped stacks.
 */
const DEBUGGABLE = /[\\/]@pulumi[\\/]pulumi[\\/]runtime[\\/]debuggable\.js$/;

const mapped = Error.prepareStackTrace;
if (mapped !== undefined && !process.env.PULUMI_DEBUG_PROMISE_LEAKS) {
  Error.prepareStackTrace = (error: Error, frames: NodeJS.CallSite[]): unknown => {
    const top = frames[0];
    if (top?.getFunctionName() === "debuggablePromise" && DEBUGGABLE.test(top.getFileName() ?? ""))
      return `${error}${frames.map((frame) => `\n    at ${frame}`).join("")}`;
    return mapped(error, frames);
  };
}

export {};
