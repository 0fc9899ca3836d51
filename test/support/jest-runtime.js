/**
 * Jest runtime (jest.config.js `runtime`) that compiles each module once per worker process
 * instead of once per test file.
 *
 * Jest evaluates every test file in a fresh module registry, so a worker re-parsed and recompiled
 * the Pulumi SDK (and the TypeScript compiler it loads for closure serialization), the provider
 * packages and our own modules for every file: about a quarter of a component test's CPU. A
 * `vm.Script` is not bound to a context, so the compiled script is kept per module file (and its
 * exact code) and run in the next test file's context. Modules still execute afresh in every test
 * file, so isolation is unchanged; only V8's parse and compile are shared.
 *
 * Jest's own scripts carry an `import()` callback bound to one test file's runtime. Without
 * `--experimental-vm-modules` that callback can only say that ES modules are unsupported, so the
 * shared scripts get a callback saying the same; with VM modules enabled, and for anything this
 * cannot compile, Jest's own per-file scripts are used.
 */
const vm = require("node:vm");
const Runtime = require("jest-runtime").default;

const vmModules = typeof vm.SyntheticModule === "function";

/** This worker's compiled modules: filename -> { code, columnOffset, script }. */
const compiled = new Map();

function unsupportedDynamicImport() {
  throw new Error(
    "You need to run with a version of node that supports ES Modules in the VM API. " +
      "See https://jestjs.io/docs/ecmascript-modules",
  );
}

class CompileOnceRuntime extends Runtime {
  createScriptFromCode(scriptSource, filename) {
    if (vmModules || this._resolver.isCoreModule(filename)) return super.createScriptFromCode(scriptSource, filename);
    const code = this.wrapCodeInModuleWrapper(scriptSource);
    // As Jest does: the module wrapper's length, so stack columns of line 1 stay right.
    const columnOffset = this._fileTransforms.get(filename)?.wrapperLength;
    const hit = compiled.get(filename);
    if (hit !== undefined && hit.code === code && hit.columnOffset === columnOffset) return hit.script;
    let script;
    try {
      script = new vm.Script(code, {
        columnOffset,
        displayErrors: true,
        filename,
        importModuleDynamically: unsupportedDynamicImport,
      });
    } catch {
      // Jest's own path turns a syntax error into its explanatory message.
      return super.createScriptFromCode(scriptSource, filename);
    }
    compiled.set(filename, { code, columnOffset, script });
    return script;
  }
}

module.exports = CompileOnceRuntime;
