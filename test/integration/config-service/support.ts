/**
 * Shared setup of the config-service integration tests: the Docker engine and the local etcd
 * image are required (the tests fail, never skip, without them), clients with deadlines, cleanup
 * by the `scaleplane.test=1` label.
 */
import Docker from "dockerode";
import { Etcd3 } from "etcd3";
import { removeCluster, removeNetwork } from "../../../providers/etcd-membership/docker-members";

/** The etcd image `npm run images` builds (Debian etcd-server 3.4.23). */
export const ETCD_IMAGE = process.env.SCALEPLANE_ETCD_IMAGE ?? "scaleplane/etcd:3.4.23";
export const ETCD_BINARY = "/usr/bin/etcd";
export const TEST_LABELS = { "scaleplane.test": "1" };

/** A Docker client; fails clearly when dockerd is not running or the etcd image is missing. */
export async function requireDocker(): Promise<Docker> {
  const docker = new Docker();
  try {
    await docker.ping();
  } catch (e) {
    throw new Error(
      `these tests need a running Docker engine (start dockerd; scripts/setup-engines.sh does it in CI): ${(e as Error).message}`,
    );
  }
  try {
    await docker.getImage(ETCD_IMAGE).inspect();
  } catch {
    throw new Error(`these tests need the local image ${ETCD_IMAGE}: run \`npm run images\``);
  }
  return docker;
}

/** An etcd3 client with a 3 s deadline per call and no client-side retries beyond etcd3's. */
export function client(
  endpoints: string[],
  credentials?: { rootCertificate: Buffer; certChain: Buffer; privateKey: Buffer },
): Etcd3 {
  return new Etcd3({
    hosts: endpoints,
    credentials,
    defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + 3000 }),
  });
}

/** Removes a test cluster's containers, volumes and network. */
export async function cleanup(docker: Docker, clusterName: string, network: string): Promise<void> {
  await removeCluster(docker, clusterName);
  await removeNetwork(docker, network);
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
