import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';

/**
 * Deletes every stream (object-store buckets are streams named OBJ_<bucket>) whose name carries the
 * given prefix, so a test run leaves nothing behind on the shared NATS server.
 */
export async function deleteNatsResources(natsUrl: string, prefix: string): Promise<string[]> {
  const nc = await connect({ servers: natsUrl });
  try {
    const jsm = await jetstreamManager(nc);
    const upper = prefix.toUpperCase().replace(/-/g, '_');
    const deleted: string[] = [];
    for await (const name of jsm.streams.names()) {
      const bare = name.startsWith('OBJ_') ? name.slice(4) : name;
      if (bare.startsWith(prefix) || bare.startsWith(upper)) {
        await jsm.streams.delete(name);
        deleted.push(name);
      }
    }
    return deleted;
  } finally {
    await nc.close();
  }
}
