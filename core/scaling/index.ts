/**
 * Scaling engines behind one interface (see types.ts): `createEngine(policy)` returns the engine the
 * policy names. Pure: the runtime controller (runtime/scaler), the simulator and the tests share it.
 */
import { createCostEngine } from "./cost";
import { createHpaEngine } from "./hpa";
import { createMultiMetricEngine } from "./multi-metric";
import { parseScalingPolicy, type ScalingPolicy } from "./policy";
import { createPredictiveEngine } from "./predictive";
import { createThresholdEngine } from "./threshold";
import type { EngineName, Engine } from "./types";

export * from "./types";
export * from "./policy";
export {
  cheapestCover,
  planMix,
  mixPlanner,
  expectedSpotPerHour,
  interruptionsPerHour,
  onDemandUnitPrice,
  commitmentType,
  type MixPlan,
  type CostSettings,
} from "./cost";

/** The engine `policy.engine` names, or `name` when given (the simulator runs every engine on one policy). */
export function createEngine(policy: ScalingPolicy, name: EngineName = policy.engine): Engine {
  // Validate again: a policy built in code (not parsed) must not reach an engine with bad bounds.
  const p = parseScalingPolicy(policy);
  switch (name) {
    case "threshold":
      return createThresholdEngine(p) as Engine;
    case "hpa":
      return createHpaEngine(p) as Engine;
    case "predictive":
      return createPredictiveEngine(p) as Engine;
    case "multi-metric":
      return createMultiMetricEngine(p) as Engine;
    case "cost":
      return createCostEngine(p) as Engine;
  }
}
