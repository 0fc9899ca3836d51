/**
 * Config-service (etcd, Raft) policies: an odd member count, at least three members in prod,
 * members spread so no zone holds a quorum, TLS on in prod.
 */
import type { PolicyResource } from "@pulumi/policy";
import { quorum } from "../core/etcd/spec";
import {
  T,
  arr,
  componentSettings,
  prodMinimumSchema,
  inProd,
  mainContainers,
  num,
  obj,
  prodSchema,
  stackPolicy,
  str,
  type EnvConfig,
  type Props,
  type Tree,
} from "./lib";

/** Resources that are etcd members, below a RaftConfigService. */
const MEMBER_TYPES: readonly string[] = [T.awsInstance, T.dockerContainer, T.k8sStatefulSet];

/**
 * scaleplane's EtcdMembership dynamic provider (`pulumi-nodejs:dynamic/etcd:EtcdMembership`): one
 * resource that runs every member listed in its `members` input (Docker target).
 */
export const isMembership = (r: PolicyResource): boolean =>
  /:EtcdMembership$/.test(r.type) && Array.isArray(r.props.members);

/** The resources below a RaftConfigService that run its members. */
export function memberResources(service: PolicyResource, tree: Tree): PolicyResource[] {
  return tree.descendants(service).filter((r) => MEMBER_TYPES.includes(r.type) || isMembership(r));
}

/** Members one member resource runs: a StatefulSet its replicas, an EtcdMembership its member list. */
const membersIn = (r: PolicyResource): number =>
  r.type === T.k8sStatefulSet
    ? (num(obj(r.props.spec)?.replicas) ?? 1)
    : isMembership(r)
      ? arr(r.props.members).length
      : 1;

/** Members the service runs, counted from its member resources; undefined if it has none. */
export function memberCount(service: PolicyResource, tree: Tree): number | undefined {
  const members = memberResources(service, tree);
  return members.length === 0 ? undefined : members.reduce((n, r) => n + membersIn(r), 0);
}

/** The member count from the resources, else from the component's settings. */
function membersOf(service: PolicyResource, tree: Tree): number | undefined {
  return memberCount(service, tree) ?? componentSettings(service, tree, "configService")?.members;
}

export const etcdMembersOdd = stackPolicy(
  {
    name: "etcd-members-odd",
    description:
      "An etcd cluster has an odd number of voting members: an even count adds a member without adding fault tolerance.",
    enforcementLevel: "mandatory",
  },
  (tree, _args, report) => {
    for (const s of tree.ofType(T.configService)) {
      const n = membersOf(s, tree);
      if (n !== undefined && n % 2 === 0)
        report(
          `RaftConfigService ${s.name} runs ${n} members; run an odd number (3, 5 or 7; scaleplane:configService.members): ${n} members tolerate no more failures than ${n - 1}.`,
          s.urn,
        );
    }
  },
);

const minMembersSchema = prodMinimumSchema("minMembers", 3, "Fewest etcd members allowed in prod.");

export const etcdMembersProdMinimum = stackPolicy<EnvConfig & { minMembers: number }>(
  {
    name: "etcd-members-prod-minimum",
    description:
      "In prod an etcd cluster has at least `minMembers` (default 3) members, so it survives a member failure.",
    enforcementLevel: "mandatory",
    configSchema: minMembersSchema,
  },
  (tree, args, report, cfg) => {
    for (const s of inProd(tree, T.configService, args, cfg.environment)) {
      const n = membersOf(s, tree);
      if (n !== undefined && n < cfg.minMembers)
        report(
          `RaftConfigService ${s.name} runs ${n} member(s) in prod; set scaleplane:configService.members to at least ${cfg.minMembers} so the cluster keeps a quorum when a member fails.`,
          s.urn,
        );
    }
  },
);

const ZONE_KEY = "topology.kubernetes.io/zone";

/** True when a StatefulSet's pods are spread over zones (topology spread or anti-affinity on the zone key). */
function spreadOverZones(props: Props): boolean {
  const pod = obj(obj(obj(props.spec)?.template)?.spec) ?? {};
  const spread = arr(pod.topologySpreadConstraints).some((c) => obj(c)?.topologyKey === ZONE_KEY);
  const anti = obj(obj(pod.affinity)?.podAntiAffinity) ?? {};
  const terms = [
    ...arr(anti.requiredDuringSchedulingIgnoredDuringExecution),
    ...arr(anti.preferredDuringSchedulingIgnoredDuringExecution).map((t) => obj(t)?.podAffinityTerm),
  ];
  return spread || terms.some((t) => obj(t)?.topologyKey === ZONE_KEY);
}

export const etcdMembersAcrossZones = stackPolicy<EnvConfig>(
  {
    name: "etcd-members-across-zones",
    description:
      "In prod no single zone holds a quorum of etcd members (EC2 members by availability zone; Kubernetes members by a zone topology spread).",
    enforcementLevel: "mandatory",
    configSchema: prodSchema,
  },
  (tree, args, report, cfg) => {
    for (const s of inProd(tree, T.configService, args, cfg.environment)) {
      const members = memberResources(s, tree);
      const instances = members.filter((m) => m.type === T.awsInstance);
      if (instances.length > 1) {
        const byZone = new Map<string, number>();
        for (const m of instances) {
          const zone = str(m.props.availabilityZone);
          if (!zone) {
            report(
              `etcd member ${m.name} has no availabilityZone; set it so members can be checked and kept apart (one zone per member, scaleplane:aws.zones).`,
              m.urn,
            );
            continue;
          }
          byZone.set(zone, (byZone.get(zone) ?? 0) + 1);
        }
        const q = quorum(instances.length);
        for (const [zone, n] of byZone) {
          if (n >= q)
            report(
              `RaftConfigService ${s.name} has ${n} of ${instances.length} members in ${zone} (a quorum is ${q}): losing that zone stops the cluster; list at least 3 zones in scaleplane:aws.zones so members spread with no zone holding a quorum.`,
              s.urn,
            );
        }
      }
      for (const m of members.filter((r) => r.type === T.k8sStatefulSet)) {
        const replicas = num(obj(m.props.spec)?.replicas) ?? 1;
        if (replicas > 1 && !spreadOverZones(m.props))
          report(
            `etcd StatefulSet ${m.name} does not spread its ${replicas} pods over zones; add a topologySpreadConstraint (or pod anti-affinity) on ${ZONE_KEY} (set scaleplane:kubernetes.zones).`,
            m.urn,
          );
      }
    }
  },
);

/** Command lines of a member resource (container command/args, member args, instance user data). */
function memberCommandLines(r: PolicyResource): string[] {
  if (isMembership(r)) return arr(r.props.members).flatMap((m) => arr(obj(m)?.args).map(String));
  if (r.type === T.dockerContainer) return [...arr(r.props.command), ...arr(r.props.entrypoints)].map(String);
  if (r.type === T.k8sStatefulSet)
    return mainContainers(r.props).flatMap((c) => [...arr(c.command), ...arr(c.args)].map(String));
  const userData =
    str(r.props.userData) ??
    (str(r.props.userDataBase64) ? Buffer.from(str(r.props.userDataBase64) as string, "base64").toString("utf8") : "");
  return userData ? [userData] : [];
}

/** The plaintext listeners a member's command line declares (`--listen-client-urls=http://…`). */
export function plaintextListeners(r: PolicyResource): string[] {
  const text = memberCommandLines(r).join(" ");
  return [...text.matchAll(/--(listen-client-urls|listen-peer-urls)[= ]+http:\/\//g)].map((m) => m[1]);
}

export const etcdTlsProd = stackPolicy<EnvConfig>(
  {
    name: "etcd-tls-prod",
    description: "In prod etcd serves clients and peers over TLS with client-certificate auth.",
    enforcementLevel: "mandatory",
    configSchema: prodSchema,
  },
  (tree, args, report, cfg) => {
    for (const s of inProd(tree, T.configService, args, cfg.environment)) {
      const plaintext = memberResources(s, tree).filter((m) => plaintextListeners(m).length > 0);
      const settings = componentSettings(s, tree, "configService");
      if (plaintext.length > 0 || settings?.tls === false)
        report(
          `RaftConfigService ${s.name} serves etcd without TLS in prod${
            plaintext.length > 0
              ? ` (plain http listeners on ${plaintext
                  .map((m) => m.name)
                  .sort()
                  .join(", ")})`
              : ""
          }; set scaleplane:configService.tls to true.`,
          s.urn,
        );
    }
  },
);

export const configServicePolicies = [etcdMembersOdd, etcdMembersProdMinimum, etcdMembersAcrossZones, etcdTlsProd];
