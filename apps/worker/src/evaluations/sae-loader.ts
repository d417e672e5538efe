import { type Sae, type SaeFormat } from '../../../../libs/sae/src/index.js';

/** Builds the SAE from its files as read from the object store, with libs/sae's loaders. */
export async function loadSaeFromFiles(
  files: Map<string, Uint8Array>,
  format: SaeFormat,
  source: string,
): Promise<Sae> {
  void files;
  void format;
  throw new Error(`${source}: libs/sae in-memory loader is not available yet`);
}
