/**
 * Network policies: the etcd and database ports are never open to the internet (security groups,
 * Kubernetes Services), and Docker publishes ports on loopback only.
 */
import type { PolicyConfigSchema, ResourceValidationPolicy } from "@pulumi/policy";
import { T, arr, coversPort, ingressEntries, num, obj, resourcePolicy, SG_TYPES, str, WORLD_CIDRS } from "./lib";

const portsSchema = (ports: number[], what: string): PolicyConfigSchema => ({
  properties: {
    ports: {
      type: "array",
      items: { type: "integer", minimum: 1, maximum: 65535 },
      default: ports,
      description: `The ${what} ports.`,
    },
  },
});

/** A policy refusing ingress from 0.0.0.0/0 or ::/0 to any of `ports`. */
export function noWorldIngress(name: string, what: string, ports: number[], keys: string): ResourceValidationPolicy {
  return resourcePolicy<{ ports: number[] }>(
    {
      name,
      description: `Security groups admit no traffic from 0.0.0.0/0 or ::/0 to the ${what} ports (default ${ports.join(", ")}).`,
      enforcementLevel: "mandatory",
      configSchema: portsSchema(ports, what),
    },
    SG_TYPES,
    (props, args, report, cfg) => {
      for (const e of ingressEntries(args.type, props)) {
        const world = e.cidrs.filter((c) => WORLD_CIDRS.includes(c));
        const open = cfg.ports.filter((p) => coversPort(e.protocol, e.fromPort, e.toPort, p));
        if (world.length > 0 && open.length > 0)
          report(
            `Security group rule ${args.name} opens ${what} port(s) ${open.join(", ")} to ${world.join(", ")}; admit only the client security groups (or private CIDRs) on ${keys}.`,
          );
      }
    },
  );
}

export const noPublicEtcdIngress = noWorldIngress(
  "no-public-etcd-ingress",
  "etcd client/peer",
  [2379, 2380],
  "scaleplane:configService.clientPort/peerPort",
);
export const noPublicDatabaseIngress = noWorldIngress(
  "no-public-database-ingress",
  "PostgreSQL",
  [5432],
  "scaleplane:database.port",
);

const LOOPBACK = ["127.0.0.1", "::1"];

export const dockerPortsLoopbackOnly = resourcePolicy(
  {
    name: "docker-ports-loopback-only",
    description: "Docker containers publish host ports on 127.0.0.1 only, never on all interfaces.",
    enforcementLevel: "mandatory",
  },
  [T.dockerContainer],
  (props, args, report) => {
    for (const p of arr(props.ports).map(obj)) {
      if (!p) continue;
      const ip = str(p.ip) ?? "0.0.0.0";
      if (!LOOPBACK.includes(ip))
        report(
          `Container ${args.name} publishes port ${num(p.internal) ?? "?"} on ${ip}; set ports[].ip to "127.0.0.1" so only this host reaches it.`,
        );
    }
  },
);

const dataPortsSchema = portsSchema([2379, 2380, 5432, 6379], "etcd, PostgreSQL and Redis");

export const k8sDataServicesInternal = resourcePolicy<{ ports: number[] }>(
  {
    name: "k8s-data-services-internal",
    description:
      "Kubernetes Services exposing etcd, PostgreSQL or Redis ports are ClusterIP (or headless), never NodePort or LoadBalancer.",
    enforcementLevel: "mandatory",
    configSchema: dataPortsSchema,
  },
  [T.k8sService],
  (props, args, report, cfg) => {
    const spec = obj(props.spec) ?? {};
    const type = str(spec.type) ?? "ClusterIP";
    if (type !== "NodePort" && type !== "LoadBalancer") return;
    const exposed = arr(spec.ports)
      .map(obj)
      .flatMap((p) => [num(p?.port), num(p?.targetPort)])
      .filter((p): p is number => p !== undefined && cfg.ports.includes(p));
    if (exposed.length > 0)
      report(
        `Service ${args.name} exposes data port(s) ${[...new Set(exposed)].join(", ")} as ${type}; set spec.type to ClusterIP so only pods in the cluster reach it.`,
      );
  },
);

export const networkPolicies = [
  noPublicEtcdIngress,
  noPublicDatabaseIngress,
  dockerPortsLoopbackOnly,
  k8sDataServicesInternal,
];
