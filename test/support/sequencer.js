/**
 * Starts the longest integration files first, so a run's wall time is close to its longest file,
 * not to a long file that happened to start last. Jest orders by the durations it cached on an
 * earlier run of this checkout; a fresh clone (CI) has no cache, and jest then orders by file size,
 * which put the 10^6-event ordering test last. `test/durations.json` records how long the slow
 * files took in CI (seconds, refreshed by hand from `npm test`'s "slowest integration files"); a
 * file listed there goes before every file that is not, longest first; the rest keep jest's order.
 */
const Sequencer = require("@jest/test-sequencer").default;
const { relative } = require("node:path");
const durations = require("../durations.json");

class SlowestFirst extends Sequencer {
  sort(tests) {
    const ordered = super.sort(tests);
    const known = (t) => durations[relative(t.context.config.rootDir, t.path).split("\\").join("/")] ?? -1;
    // stable: files with no recorded duration keep jest's order among themselves
    return ordered
      .map((t, i) => ({ t, i, d: known(t) }))
      .sort((a, b) => b.d - a.d || a.i - b.i)
      .map((x) => x.t);
  }
}

module.exports = SlowestFirst;
