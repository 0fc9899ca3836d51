/**
 * Building blocks of EC2 boot scripts (user data), shared by the app instances (core/app/aws.ts)
 * and the etcd members (core/etcd/user-data.ts): shell quoting, IMDSv2 metadata reads, SSM
 * SecureString reads and systemd units. Written once so both scripts quote and fetch the same way.
 * Pure: every function returns shell text.
 */

/** Single-quotes `s` for bash (an embedded `'` becomes `'\''`). */
export const shellQuote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/** IMDSv2: fetches a session token into `$<variable>` (instances require tokens). */
export const imdsToken = (variable = "TOKEN"): string =>
  `${variable}=$(curl -fsS -X PUT http://169.254.169.254/latest/api/token -H 'X-aws-ec2-metadata-token-ttl-seconds: 300')`;

/** A command that prints the instance metadata at `path` (e.g. `meta-data/placement/region`), using `$<tokenVariable>`. */
export const imdsRead = (path: string, tokenVariable = "TOKEN"): string =>
  `curl -fsS -H "X-aws-ec2-metadata-token: $${tokenVariable}" http://169.254.169.254/latest/${path}`;

/** A command that prints the decrypted value of an SSM SecureString parameter (region from `$<regionVariable>`). */
export const ssmGetSecureString = (parameter: string, regionVariable = "REGION"): string =>
  `aws ssm get-parameter --region "$${regionVariable}" --with-decryption --name ${shellQuote(parameter)} --query Parameter.Value --output text`;

/** A systemd service unit, written with a quoted heredoc (no expansion). */
export interface SystemdService {
  /** Unit name without `.service`. */
  name: string;
  description: string;
  /** `After=` (and `Wants=` when `wants` is set). */
  after: string;
  wants?: string;
  execStart: string;
  /** `Restart=` policy plus any further `[Service]` lines. */
  serviceLines: string[];
}

/** Lines that write `/etc/systemd/system/<name>.service`. */
export function systemdUnit(s: SystemdService): string[] {
  return [
    `cat > /etc/systemd/system/${s.name}.service <<'UNIT'`,
    "[Unit]",
    `Description=${s.description}`,
    `After=${s.after}`,
    ...(s.wants ? [`Wants=${s.wants}`] : []),
    "[Service]",
    `ExecStart=${s.execStart}`,
    ...s.serviceLines,
    "[Install]",
    "WantedBy=multi-user.target",
    "UNIT",
  ];
}
