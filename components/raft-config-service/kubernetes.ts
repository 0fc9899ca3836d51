/**
 * RaftConfigService on Kubernetes: a StatefulSet whose pods run the core/etcd/spec.ts flags for the
 * template identity `$(POD_NAME).<cluster>-peer.$(POD_NAMESPACE).svc` (the kubelet expands the
 * variables), a headless peer Service (publishNotReadyAddresses: members must find each other
 * before they are ready), a client Service, a PodDisruptionBudget (maxUnavailable 1), required pod
 * anti-affinity on the node and a zone spread when zones are given, a PVC per member, probes, and
 * the TLS Secret when TLS is on.
 *
 * podManagementPolicy is Parallel: a new cluster only elects a leader once a quorum of members
 * runs, so OrderedReady (wait for pod 0 to be ready before pod 1) would never finish.
 *
 * The member-count lock (index.ts) of a StatefulSet deployed before the lock existed has no record
 * in its first `up`; it compares with the members among the client endpoints the stack's last
 * update published (`deployedEndpoints`: the program reads its own `configEndpoints` output through
 * a StackReference to itself). That is Pulumi's record, not a read of the cluster: nothing sound
 * reads the deployed `spec.replicas` at deploy time. `StatefulSet.get` fails the whole deployment
 * when the object does not exist, i.e. for every new cluster (pulumi/pulumi#3364); pulumi-kubernetes
 * has no invoke that reads the cluster (its only ones, yaml:decode, helm:template and
 * kustomize:directory, render locally); and the lock's dynamic provider cannot reach the cluster
 * with this component's kubernetes provider (provider credentials are not handed to dynamic
 * providers, and a kubeconfig among its inputs would put a secret into its state; the ambient
 * kubeconfig may name another cluster). What the record misses: a `kubectl scale` behind Pulumi's
 * back, or an update that failed after changing the StatefulSet (the endpoints below resolve only
 * once the StatefulSet is deployed, so a refused or failed StatefulSet publishes no new count; but
 * a rollout that times out after the object was patched is not recorded).
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { ETCD_TLS_DIR, ETCD_TLS_FILES, clientUrl, etcdClusterSpec, etcdMemberArgs, scheme } from "../../core/etcd/spec";
import {
  etcdSettings,
  kubernetesMemberHosts,
  kubernetesMemberTemplate,
  kubernetesPeerService,
} from "../../core/etcd/placement";
import type { EtcdBuildContext, KubernetesEtcdResult, RaftConfigServiceKubernetesArgs } from "./args";

const DATA_DIR = "/var/lib/etcd";

/** Creates the members' Kubernetes objects under `ctx.parent` (the cluster: the parent's `kubernetes` provider). */
export function createKubernetesEtcd(
  ctx: EtcdBuildContext,
  args: RaftConfigServiceKubernetesArgs,
): KubernetesEtcdResult {
  const { name, cs, clusterName, parent } = ctx;
  const opts = { parent };
  const ns = args.namespace;
  const labels = {
    "app.kubernetes.io/name": "etcd",
    "app.kubernetes.io/instance": clusterName,
    "app.kubernetes.io/part-of": "scaleplane",
  };
  const settings = etcdSettings(cs, clusterName, `${DATA_DIR}/data`);
  const hosts = kubernetesMemberHosts(clusterName, cs.members);
  const spec = etcdClusterSpec(settings, hosts);
  const memberArgs = etcdMemberArgs(settings, kubernetesMemberTemplate(clusterName), spec.members, "new");
  const peerService = kubernetesPeerService(clusterName);

  const certs = cs.tls
    ? ctx.tls({
        dnsNames: [
          pulumi.interpolate`*.${peerService}.${ns}.svc`,
          pulumi.interpolate`*.${peerService}.${ns}.svc.cluster.local`,
          pulumi.interpolate`${clusterName}.${ns}.svc`,
          pulumi.interpolate`${clusterName}.${ns}.svc.cluster.local`,
          "localhost",
        ],
        ipAddresses: ["127.0.0.1"],
      })
    : undefined;
  const tlsSecret = certs
    ? new k8s.core.v1.Secret(
        `${name}-tls`,
        {
          metadata: { name: `${clusterName}-tls`, namespace: ns, labels },
          type: "Opaque",
          stringData: {
            "ca.crt": certs.ca,
            "server.crt": certs.serverCert,
            "server.key": certs.serverKey,
            "peer.crt": certs.peerCert,
            "peer.key": certs.peerKey,
          },
        },
        opts,
      )
    : undefined;

  const ports = [
    { name: "client", port: cs.clientPort, targetPort: cs.clientPort },
    { name: "peer", port: cs.peerPort, targetPort: cs.peerPort },
  ];
  const peerSvc = new k8s.core.v1.Service(
    `${name}-peer`,
    {
      metadata: { name: peerService, namespace: ns, labels },
      spec: { clusterIP: "None", publishNotReadyAddresses: true, selector: labels, ports },
    },
    opts,
  );
  const clientSvc = new k8s.core.v1.Service(
    `${name}-client`,
    {
      metadata: { name: clusterName, namespace: ns, labels },
      spec: { type: "ClusterIP", selector: labels, ports: [ports[0]] },
    },
    opts,
  );
  new k8s.policy.v1.PodDisruptionBudget(
    `${name}-pdb`,
    {
      metadata: { name: clusterName, namespace: ns, labels },
      spec: { maxUnavailable: 1, selector: { matchLabels: labels } },
    },
    opts,
  );

  const etcdctl = cs.etcdBinary.replace(/etcd$/, "etcdctl");
  const probe = (failureThreshold: number) =>
    cs.tls
      ? {
          exec: {
            command: [
              etcdctl,
              `--endpoints=${scheme(true)}://127.0.0.1:${cs.clientPort}`,
              `--cacert=${ETCD_TLS_FILES.ca}`,
              `--cert=${ETCD_TLS_FILES.serverCert}`,
              `--key=${ETCD_TLS_FILES.serverKey}`,
              "--command-timeout=3s",
              "endpoint",
              "health",
            ],
          },
          periodSeconds: 10,
          timeoutSeconds: 5,
          failureThreshold,
        }
      : { httpGet: { path: "/health", port: cs.clientPort }, periodSeconds: 10, timeoutSeconds: 5, failureThreshold };
  const zones = args.zones ?? [];

  const statefulSet = new k8s.apps.v1.StatefulSet(
    `${name}`,
    {
      metadata: { name: clusterName, namespace: ns, labels },
      spec: {
        serviceName: peerSvc.metadata.name,
        replicas: cs.members,
        podManagementPolicy: "Parallel",
        selector: { matchLabels: labels },
        template: {
          metadata: { labels },
          spec: {
            affinity: {
              podAntiAffinity: {
                requiredDuringSchedulingIgnoredDuringExecution: [
                  { topologyKey: "kubernetes.io/hostname", labelSelector: { matchLabels: labels } },
                ],
              },
              ...(zones.length > 0
                ? {
                    nodeAffinity: {
                      requiredDuringSchedulingIgnoredDuringExecution: {
                        nodeSelectorTerms: [
                          { matchExpressions: [{ key: "topology.kubernetes.io/zone", operator: "In", values: zones }] },
                        ],
                      },
                    },
                  }
                : {}),
            },
            topologySpreadConstraints:
              zones.length > 0
                ? [
                    {
                      maxSkew: 1,
                      topologyKey: "topology.kubernetes.io/zone",
                      whenUnsatisfiable: "DoNotSchedule",
                      labelSelector: { matchLabels: labels },
                    },
                  ]
                : [],
            terminationGracePeriodSeconds: 30,
            containers: [
              {
                name: "etcd",
                image: cs.image,
                command: [cs.etcdBinary],
                args: memberArgs,
                env: [
                  { name: "POD_NAME", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
                  { name: "POD_NAMESPACE", valueFrom: { fieldRef: { fieldPath: "metadata.namespace" } } },
                ],
                ports: [
                  { name: "client", containerPort: cs.clientPort },
                  { name: "peer", containerPort: cs.peerPort },
                ],
                readinessProbe: probe(3),
                livenessProbe: { ...probe(6), initialDelaySeconds: 15 },
                resources: { requests: { cpu: "250m", memory: "256Mi" }, limits: { memory: "1Gi" } },
                volumeMounts: [
                  { name: "data", mountPath: DATA_DIR },
                  ...(tlsSecret ? [{ name: "tls", mountPath: ETCD_TLS_DIR, readOnly: true }] : []),
                ],
              },
            ],
            volumes: tlsSecret
              ? [{ name: "tls", secret: { secretName: tlsSecret.metadata.name, defaultMode: 0o400 } }]
              : [],
          },
        },
        volumeClaimTemplates: [
          {
            metadata: { name: "data", labels },
            spec: {
              accessModes: ["ReadWriteOnce"],
              ...(args.storageClass ? { storageClassName: args.storageClass } : {}),
              resources: { requests: { storage: `${cs.storageGb}Gi` } },
            },
          },
        ],
      },
    },
    { ...opts, dependsOn: ctx.memberDependsOn },
  );

  return {
    // Resolved once the StatefulSet is deployed: a run whose StatefulSet was not (e.g. the member-count
    // lock refused the count) publishes no endpoints, so the stack output keeps the deployed ones.
    clientEndpoints: pulumi
      .all([ns, statefulSet.metadata])
      .apply(([n]) => kubernetesMemberHosts(clusterName, cs.members, n).map((h) => clientUrl(settings, h))),
    memberNames: spec.members.map((m) => m.name),
    tls: certs,
    statefulSet,
    service: clientSvc,
    peerService: peerSvc,
  };
}
