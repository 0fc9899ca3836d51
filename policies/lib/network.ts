/** Ports and CIDRs: which security-group rules admit which traffic from where. */
import { arr, num, obj, type Props } from "./props";
import { T } from "./types";

export const WORLD_CIDRS = ["0.0.0.0/0", "::/0"];

/** True when a rule with this protocol and port range admits TCP traffic to `port`. */
export function coversPort(protocol: unknown, fromPort: unknown, toPort: unknown, port: number): boolean {
  const p = String(protocol ?? "tcp").toLowerCase();
  if (p === "-1" || p === "all") return true;
  if (p !== "tcp" && p !== "6") return false;
  const from = num(fromPort);
  const to = num(toPort) ?? from;
  if (from === undefined || to === undefined) return false;
  return from <= port && port <= to;
}

/** A security-group ingress entry normalised across the three ways AWS lets you write one. */
export interface IngressEntry {
  protocol: unknown;
  fromPort: unknown;
  toPort: unknown;
  cidrs: string[];
}

/** Ingress entries of an inline SecurityGroup, a SecurityGroupRule or a SecurityGroupIngressRule. */
export function ingressEntries(type: string, props: Props): IngressEntry[] {
  const cidrsOf = (...vs: unknown[]) =>
    vs.flatMap((v) => (typeof v === "string" ? [v] : arr(v).filter((x): x is string => typeof x === "string")));
  if (type === T.awsSecurityGroup) {
    return arr(props.ingress)
      .map(obj)
      .filter((r): r is Props => r !== undefined)
      .map((r) => ({
        protocol: r.protocol,
        fromPort: r.fromPort,
        toPort: r.toPort,
        cidrs: cidrsOf(r.cidrBlocks, r.ipv6CidrBlocks),
      }));
  }
  if (type === T.awsSgRule) {
    if (props.type !== "ingress") return [];
    return [
      {
        protocol: props.protocol,
        fromPort: props.fromPort,
        toPort: props.toPort,
        cidrs: cidrsOf(props.cidrBlocks, props.ipv6CidrBlocks),
      },
    ];
  }
  if (type === T.awsSgIngressRule) {
    return [
      {
        protocol: props.ipProtocol,
        fromPort: props.fromPort,
        toPort: props.toPort,
        cidrs: cidrsOf(props.cidrIpv4, props.cidrIpv6),
      },
    ];
  }
  return [];
}

export const SG_TYPES: readonly string[] = [T.awsSecurityGroup, T.awsSgRule, T.awsSgIngressRule];
