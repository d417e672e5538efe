// What the fault run, the load bench and the outage test start from: an SAE, its watchlist and N runs,
// created through the REST API of a running API process.
import { join } from 'node:path';
import { syntheticSaeWeights, writeSaeLensFolder } from '../../libs/sae/src/index.js';

export interface SeedOptions {
  /** The API's base URL, e.g. http://127.0.0.1:3000 (API keys off). */
  api: string;
  /** Folder the SAELens SAE is written into (`<dir>/sae`); the API reads it from there. */
  dir: string;
  dIn: number;
  dSae: number;
  /** Seed of syntheticSaeWeights. */
  weightsSeed: number;
  /** The SAE's name, the runs' project and the prefix of the runs' names (`<name>-<i>`). */
  name: string;
  latents: number[];
  directions: { name: string; vector: number[] }[];
  runs: number;
}

export interface Seeded {
  saeId: string;
  saeDir: string;
  /** The directions as stored (real[]), which the workers project on: what a direct encode must use. */
  directions: { name: string; vector: number[] }[];
  runs: string[];
}

/** Registers a JumpReLU SAELens SAE, sets its watchlist and creates `runs` runs on it. */
export async function seedSaeAndRuns(o: SeedOptions): Promise<Seeded> {
  const call = async <T>(method: string, path: string, body: unknown): Promise<T> => {
    const res = await fetch(o.api + path, {
      method,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
    return (await res.json()) as T;
  };
  const saeDir = join(o.dir, 'sae');
  await writeSaeLensFolder(saeDir, syntheticSaeWeights(o.dIn, o.dSae, o.weightsSeed), {
    architecture: 'jumprelu',
  });
  const sae = await call<{ id: string }>('POST', '/v1/saes', {
    name: o.name,
    format: 'saelens',
    path: saeDir,
  });
  const stored = await call<{ directions: { name: string; vector: number[] }[] }>(
    'PUT',
    `/v1/saes/${sae.id}/watchlist`,
    { latents: o.latents.map((index) => ({ index, label: `latent ${index}` })), directions: o.directions },
  );
  const runs: string[] = [];
  for (let r = 0; r < o.runs; r++) {
    const run = await call<{ id: string }>('POST', '/v1/runs', {
      name: `${o.name}-${r}`,
      project: o.name,
      model: 'tiny',
      saeId: sae.id,
    });
    runs.push(run.id);
  }
  return { saeId: sae.id, saeDir, directions: stored.directions, runs };
}
