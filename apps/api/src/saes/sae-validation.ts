import { type Sae, type SaeFormat } from '../../../../libs/sae/src/index.js';

/** Loads (and so fully validates) an SAE from a folder or file on this server with libs/sae. */
export async function loadSaeForRegistration(source: string, format: SaeFormat): Promise<Sae> {
  void source;
  void format;
  throw new Error('libs/sae loadSae is not available yet');
}
