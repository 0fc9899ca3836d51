/**
 * `npm run bench -- ring [--nodes N] [--vnodes V] [--keys K] [--rounds R] [--move-keys M]`: the
 * placement figures alone (core/sharding/ring.ts against the `hashring` package). They are measured by
 * bench/shards/ring.ts, which `npm run bench -- shards` runs alongside the rebalance figures.
 */
import { ringFigures } from "./shards/ring";

export default ringFigures;
