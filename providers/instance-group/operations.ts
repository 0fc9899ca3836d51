/**
 * The ManagedInstanceGroup provider's operations (see ./index.ts for what each does). This module and
 * everything it imports from this repository are bundled by esbuild into one CommonJS text that
 * travels inside the serialized provider: the zod schemas it uses cannot be captured by Pulumi's
 * closure serializer. npm packages stay `require`d by name.
 */
import { randomUUID, scryptSync } from "node:crypto";
import * as pulumi from "@pulumi/pulumi";
import Docker from "dockerode";
import pino from "pino";
import { ConfigClient } from "../../runtime/config-client";
import { GroupReconciler, type GroupActions } from "../../runtime/scaler/group";
import {
  groupKeys,
  instanceGroupFailures,
  type LaunchSpecInput,
  type ReconcileRequest,
} from "../../core/scaling/reconcile";
import { parseScalingPolicy, type ScalingPolicyInput } from "../../core/scaling/policy";
import { secretFiles } from "../../core/secret-files";
import { canonicalJson, launchSpecHash } from "../../core/scaling/spec-hash";

/**
 * The secrets' digest in the spec hash: scrypt of the values (salted with the group), so a rotated
 * secret rolls every instance while neither the values nor a cheap hash of them is ever stored.
 */
export function secretsDigest(group: string, secretEnv: Record<string, string> = {}): string {
  if (Object.keys(secretEnv).length === 0) return "";
  return scryptSync(canonicalJson(secretEnv), `scaleplane:${group}`, 32, { N: 16384, r: 8, p: 1 }).toString("hex");
}

/** The launch spec the controllers get: secret names as files, and the spec hash. */
export function storedLaunchSpec(i: InstanceGroupInputs) {
  const spec = { ...i.launchSpec, group: i.group, secretFiles: secretFiles(Object.keys(i.secretEnv ?? {})) };
  return { ...spec, specHash: launchSpecHash(spec, secretsDigest(i.group, i.secretEnv)) };
}

/** Plain inputs as the provider receives them. */
export interface InstanceGroupInputs {
  group: string;
  configEndpoints: string[];
  configPrefix?: string;
  launchSpec: Omit<LaunchSpecInput, "secretEnv" | "group">;
  secretEnv?: Record<string, string>;
  policy: ScalingPolicyInput;
  lbSlots: number;
  readyTimeoutSeconds?: number;
}

/** State: the inputs without secrets, plus what the group looked like when the call returned. */
export type InstanceGroupOutputs = Omit<InstanceGroupInputs, "secretEnv"> & {
  /** The launch spec's hash (secrets included as a slow digest): a changed secret changes it. */
  specHash: string;
  /** Policy generation stored in etcd (bumped by every update). */
  generation: number;
  /** Instances in service when the call returned. */
  instances: string[];
  /** Who ran the reconcile pass (a controller id, or this provider). */
  reconciledBy: string;
};

const DEFAULT_TIMEOUT_SECONDS = 300;
/** Keys whose change means another group: replace. */
const REPLACE_KEYS = ["group", "configEndpoints", "configPrefix"] as const;
const ALL_KEYS = [
  "group",
  "configEndpoints",
  "configPrefix",
  "launchSpec",
  "secretEnv",
  "policy",
  "lbSlots",
  "readyTimeoutSeconds",
] as const;

/** What the operations connect to (unit tests give them an in-memory etcd and Docker). */
export interface InstanceGroupDeps {
  /** A config client for the group's config service. */
  connect(i: InstanceGroupInputs, log: pino.Logger): ConfigClient;
  /** The Docker the provider's own pass acts on. */
  docker(): Docker;
  /** Docker and the load balancer as that pass acts on them. @default dockerGroupActions(docker()) */
  actions?: GroupActions;
  /** Pause between retries and between the passes of the provider's own reconcile, ms. @default 1000 */
  retryMs?: number;
}

const realDeps: InstanceGroupDeps = {
  connect: (i, log) =>
    ConfigClient.create({
      endpoints: i.configEndpoints,
      logger: log,
      ...(i.configPrefix ? { prefix: i.configPrefix } : {}),
    }),
  docker: () => new Docker(),
};

/** Stores spec and policy, asks for a pass of `kind` and waits until it ran (by a controller or by us). */
async function reconcileGroup(
  deps: InstanceGroupDeps,
  i: InstanceGroupInputs,
  generation: number,
  kind: ReconcileRequest["kind"],
): Promise<{ instances: string[]; by: string }> {
  const log = pino({ name: "scaling-policy", level: process.env.SCALEPLANE_LOG_LEVEL ?? "warn" }, pino.destination(2));
  const client = deps.connect(i, log);
  const holder = `provider-${randomUUID().slice(0, 8)}`;
  const docker = deps.docker();
  const timeoutMs = (i.readyTimeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS) * 1000;
  const deadline = Date.now() + timeoutMs;
  try {
    // Secret values stay in memory, for a pass this provider runs itself.
    const reconciler = new GroupReconciler({
      docker,
      client,
      group: i.group,
      holder,
      log,
      secrets: i.secretEnv ?? {},
      ...(deps.actions ? { actions: deps.actions } : {}),
    });
    const keys = reconciler.keys;
    if (kind === "reconcile") {
      const policy = parseScalingPolicy(i.policy, "policy");
      // Secret names only (as file paths) and the spec hash: values never reach etcd.
      await client.put(keys.spec, storedLaunchSpec(i));
      await client.put(keys.policy, { generation, policy });
    } else {
      // Without a policy the controllers stop scaling the group; the request empties it.
      await client.delete(keys.policy);
    }
    const request: ReconcileRequest = { id: `${holder}-${Date.now()}`, generation, kind };
    await client.put(keys.request, request);
    pulumi.log.info(`ScalingPolicy ${i.group}: waiting for a reconcile pass (${kind}, generation ${generation})`);
    // Transient failures (etcd slow or briefly unreachable under load, so its client's circuit
    // breaker opens; a pass of ours that failed) do not fail the update: the controllers may still
    // serve the request, so wait on until the deadline and name the last failure if it passes.
    let lastFailure: string | undefined;
    for (;;) {
      try {
        const done = await client.get(keys.done);
        if (done?.id === request.id) {
          const status = await client.get(keys.status);
          return { instances: kind === "delete" ? [] : (status?.inService ?? []), by: done.by };
        }
      } catch (e) {
        lastFailure = e instanceof Error ? e.message : String(e);
      }
      if (Date.now() > deadline)
        throw new Error(
          `ScalingPolicy ${i.group}: no reconcile pass completed within ${timeoutMs / 1000} s (is the load balancer running?)` +
            (lastFailure ? `; last failure: ${lastFailure}` : ""),
        );
      try {
        // Queue in the controllers' election: elected only while no controller leads.
        let lead;
        try {
          lead = await client.campaign(keys.election, holder, { ttlSeconds: 10, timeoutMs: 2000 });
        } catch (e) {
          if (/not elected within/.test(String((e as Error).message))) continue;
          throw e;
        }
        try {
          const again = await client.get(keys.done);
          if (again?.id === request.id) continue;
          const electedAtMs = Date.now();
          const r = await reconciler.converge(
            lead,
            kind === "delete" ? "empty" : "hold",
            electedAtMs,
            Math.max(1000, deadline - Date.now()),
            deps.retryMs ?? 1000,
          );
          await lead.fencedPut(keys.done, {
            id: request.id,
            atMs: Date.now(),
            by: holder,
            inService: r.status?.inService.length ?? 0,
          });
        } finally {
          await lead.resign().catch(() => undefined);
        }
      } catch (e) {
        lastFailure = e instanceof Error ? e.message : String(e);
        log.warn({ group: i.group, err: lastFailure }, "waiting for the reconcile pass: retrying after a failure");
        await new Promise((r) => setTimeout(r, deps.retryMs ?? 1000));
      }
    }
  } finally {
    client.close();
  }
}

async function removeKeys(deps: InstanceGroupDeps, i: InstanceGroupInputs): Promise<void> {
  const client = deps.connect(i, pino({ level: "warn" }, pino.destination(2)));
  try {
    // every key of the group (the scaling events too), from the one list of them; the election
    // key is the leases' own and goes with them
    const { election: _election, ...keys } = groupKeys(i.group);
    for (const key of Object.values(keys)) await client.etcd.delete().key(client.fullKey(key));
  } finally {
    client.close();
  }
}

function outputs(
  i: InstanceGroupInputs,
  generation: number,
  r: { instances: string[]; by: string },
): InstanceGroupOutputs {
  const { secretEnv: _s, ...plain } = i;
  return { ...plain, specHash: storedLaunchSpec(i).specHash, generation, instances: r.instances, reconciledBy: r.by };
}

const same = (a: unknown, b: unknown) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);

/** The provider methods over `deps` (the real etcd and Docker by default). */
export const instanceGroupOperations = (deps: InstanceGroupDeps = realDeps) => ({
  async check(_olds: Record<string, unknown>, news: Record<string, unknown>): Promise<pulumi.dynamic.CheckResult> {
    return { inputs: news, failures: instanceGroupFailures(news) };
  },

  async diff(_id: string, olds: InstanceGroupOutputs, news: InstanceGroupInputs) {
    // secretEnv is not in state: its values are compared through the spec hash (a slow digest of
    // them is part of it), so adding, removing or rotating a secret is a change that rolls the group.
    const changed: string[] = ALL_KEYS.filter(
      (k) =>
        k !== "secretEnv" &&
        !same((olds as Record<string, unknown>)[k], (news as unknown as Record<string, unknown>)[k]),
    );
    if (olds.specHash === undefined || olds.specHash !== storedLaunchSpec(news).specHash) changed.push("secretEnv");
    const replaces = REPLACE_KEYS.filter((k) => changed.includes(k));
    return { changes: changed.length > 0, replaces: [...replaces], deleteBeforeReplace: replaces.length > 0 };
  },

  async create(inputs: InstanceGroupInputs) {
    const r = await reconcileGroup(deps, inputs, 1, "reconcile");
    return { id: `${inputs.group}-instance-group`, outs: outputs(inputs, 1, r) };
  },

  async update(_id: string, olds: InstanceGroupOutputs, news: InstanceGroupInputs) {
    const generation = (olds.generation ?? 0) + 1;
    const r = await reconcileGroup(deps, news, generation, "reconcile");
    return { outs: outputs(news, generation, r) };
  },

  async delete(_id: string, props: InstanceGroupOutputs) {
    await reconcileGroup(deps, props as InstanceGroupInputs, props.generation ?? 0, "delete");
    await removeKeys(deps, props as InstanceGroupInputs);
  },
});

/** The provider methods. */
export const operations = instanceGroupOperations();
