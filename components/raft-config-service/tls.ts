/**
 * Per-stack TLS of a config-service cluster (@pulumi/tls): an ECDSA CA, a server and a peer
 * certificate for the given SANs, and a client certificate. Private keys stay secrets.
 */
import * as pulumi from "@pulumi/pulumi";
import * as tls from "@pulumi/tls";
import type { EtcdTlsOutputs } from "./args";

/** Per-stack TLS: an ECDSA CA, a server and a peer certificate with `sans`, a client certificate. */
export function createTls(
  name: string,
  clusterName: string,
  parent: pulumi.Resource,
  sans: { dnsNames: pulumi.Input<string>[]; ipAddresses: string[] },
): EtcdTlsOutputs {
  const opts = { parent };
  const key = (what: string) =>
    new tls.PrivateKey(`${name}-${what}-key`, { algorithm: "ECDSA", ecdsaCurve: "P256" }, opts);
  const caKey = key("ca");
  const ca = new tls.SelfSignedCert(
    `${name}-ca`,
    {
      privateKeyPem: caKey.privateKeyPem,
      isCaCertificate: true,
      validityPeriodHours: 24 * 365 * 5,
      allowedUses: ["cert_signing", "crl_signing", "digital_signature"],
      subject: { commonName: `${clusterName} etcd CA`, organization: "scaleplane" },
    },
    opts,
  );
  const leaf = (what: string, commonName: string, uses: string[], withSans: boolean) => {
    const k = key(what);
    const csr = new tls.CertRequest(
      `${name}-${what}-csr`,
      {
        privateKeyPem: k.privateKeyPem,
        subject: { commonName, organization: "scaleplane" },
        ...(withSans ? sans : {}),
      },
      opts,
    );
    const cert = new tls.LocallySignedCert(
      `${name}-${what}-cert`,
      {
        certRequestPem: csr.certRequestPem,
        caPrivateKeyPem: caKey.privateKeyPem,
        caCertPem: ca.certPem,
        validityPeriodHours: 24 * 365 * 2,
        allowedUses: uses,
      },
      opts,
    );
    return { cert: cert.certPem, key: pulumi.secret(k.privateKeyPem) };
  };
  const both = ["digital_signature", "key_encipherment", "server_auth", "client_auth"];
  const server = leaf("server", `${clusterName} server`, both, true);
  const peer = leaf("peer", `${clusterName} peer`, both, true);
  const client = leaf(
    "client",
    `${clusterName} client`,
    ["digital_signature", "key_encipherment", "client_auth"],
    false,
  );
  return {
    ca: ca.certPem,
    serverCert: server.cert,
    serverKey: server.key,
    peerCert: peer.cert,
    peerKey: peer.key,
    clientCert: client.cert,
    clientKey: client.key,
  };
}
