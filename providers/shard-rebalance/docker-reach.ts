/**
 * Where `pulumi up` (or `npm run rebalance`) reaches a Docker shard the inputs do not name: the
 * shard map holds container names for the apps on the shard network, and this process runs on the
 * host, where a shard container answers on the 127.0.0.1 port it publishes. Used for shards of a
 * stored map that neither the inputs' nor the previous inputs' `reach` lists (e.g. a map another
 * tool changed). Only 127.0.0.1 bindings are used (the target publishes nothing else).
 */
import Docker from "dockerode";

/** A shard as the map names it. */
interface DockerShard {
  readonly name: string;
  readonly host: string;
  readonly port: number;
}

/**
 * Finds `127.0.0.1:<published port>` for the shards whose container (named as the map's host)
 * publishes the map's port on 127.0.0.1; shards it cannot find are left out.
 */
export async function dockerReach(
  shards: readonly DockerShard[],
  docker = new Docker(),
): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const s of shards) {
    const inspect = await docker
      .getContainer(s.host)
      .inspect()
      .catch(() => undefined);
    const bindings = inspect?.NetworkSettings?.Ports?.[`${s.port}/tcp`] ?? [];
    const local = bindings.find((b) => b.HostIp === "127.0.0.1");
    if (local?.HostPort) out[s.name] = `127.0.0.1:${local.HostPort}`;
  }
  return out;
}
