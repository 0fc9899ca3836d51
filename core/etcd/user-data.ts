/**
 * The EC2 boot script of an etcd member (Debian 12): finds and mounts the member's EBS data
 * volume, fetches the TLS files from SSM (with the instance role; key material never appears in
 * user data), and runs etcd with the core/etcd/spec.ts flags as a systemd service. Built from the same
 * pieces as the app's boot script (core/aws/boot-script.ts). Pure.
 */
import { imdsRead, imdsToken, shellQuote, ssmGetSecureString, systemdUnit } from "../aws/boot-script";
import { ETCD_TLS_DIR } from "./spec";

/** Where the member's data volume is mounted (etcd's data dir is `<mount>/data`). */
export const ETCD_DATA_MOUNT = "/var/lib/etcd";
/** Device name the data volume is attached as. */
export const ETCD_DATA_DEVICE = "/dev/sdf";

export interface EtcdUserDataInput {
  /** Path of the etcd binary. */
  binary: string;
  /**
   * The etcd version to install (Debian's etcd-server, pinned): the version the other targets' image
   * is tagged with (core/etcd/spec.ts etcdVersionOfImage), so every target runs the same etcd.
   */
  etcdVersion: string;
  /** The member's flags (core/etcd/spec.ts). */
  args: string[];
  /** TLS file path → SSM SecureString parameter name (TLS off: undefined). */
  tlsParameters?: Record<string, string>;
}

/** The boot script of a member: data volume, TLS files from SSM, etcd as a systemd service. */
export function etcdMemberUserData(o: EtcdUserDataInput): string {
  const lines = [
    "#!/bin/bash",
    "set -euo pipefail",
    "export DEBIAN_FRONTEND=noninteractive",
    `apt-get update -q && apt-get install -y -q ${shellQuote(`etcd-server=${o.etcdVersion}-*`)} awscli nvme-cli curl`,
    // Never upgraded behind the cluster's back: a version change is a config change.
    "apt-mark hold etcd-server",
    "systemctl disable --now etcd || true",
    // The EBS volume shows up as an NVMe device on Nitro instances; find it by its attachment name.
    `dev=""; for i in $(seq 1 60); do for d in /dev/nvme*n1 ${ETCD_DATA_DEVICE} /dev/xvdf; do [ -b "$d" ] || continue; if [ "$d" = ${ETCD_DATA_DEVICE} ] || [ "$d" = /dev/xvdf ] || nvme id-ctrl -v "$d" | grep -q 'sdf'; then dev=$d; break 2; fi; done; sleep 2; done`,
    '[ -n "$dev" ] || { echo "etcd data volume not attached" >&2; exit 1; }',
    'blkid "$dev" || mkfs.ext4 -q -L etcd-data "$dev"',
    `mkdir -p ${ETCD_DATA_MOUNT} && grep -q etcd-data /etc/fstab || echo "LABEL=etcd-data ${ETCD_DATA_MOUNT} ext4 defaults,nofail 0 2" >> /etc/fstab`,
    `mount -a && mkdir -p ${ETCD_DATA_MOUNT}/data && chmod 700 ${ETCD_DATA_MOUNT}/data`,
  ];
  if (o.tlsParameters) {
    // IMDSv2 (token required) for the region the SSM calls go to.
    lines.push(
      imdsToken(),
      `REGION=$(${imdsRead("meta-data/placement/region")})`,
      `install -d -m 0700 ${ETCD_TLS_DIR}`,
    );
    for (const [file, parameter] of Object.entries(o.tlsParameters))
      lines.push(`${ssmGetSecureString(parameter)} > ${shellQuote(file)} && chmod 0600 ${shellQuote(file)}`);
  }
  lines.push(
    ...systemdUnit({
      name: "scaleplane-etcd",
      description: "scaleplane etcd member",
      after: "network-online.target",
      wants: "network-online.target",
      execStart: [o.binary, ...o.args].map(shellQuote).join(" "),
      serviceLines: ["Restart=always", "RestartSec=2", "LimitNOFILE=65536"],
    }),
    "systemctl daemon-reload && systemctl enable --now scaleplane-etcd",
  );
  return lines.join("\n") + "\n";
}
