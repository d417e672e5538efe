/**
 * What the simulator hands to Sentinel, in the files a real training job would: activations as a
 * safetensors upload with `prompt_offsets` and the prompt names in `__metadata__`, and the SAE as a
 * SAELens folder (cfg.json + sae_weights.safetensors).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeSafetensors } from '../../sae/src/formats/safetensors.js';
import { type SimulatedActivations } from './activations.js';
import { saeLensConfig, type SimulatedSae } from './sae.js';

/** The safetensors body of `PUT /v1/runs/:runId/checkpoints/:step/activations`. */
export function activationsSafetensors(
  act: SimulatedActivations,
  metadata: Record<string, string> = {},
): Buffer {
  return writeSafetensors(
    {
      activations: { dtype: 'F32', shape: [act.nTokens, act.dIn], data: act.data },
      prompt_offsets: { dtype: 'I32', shape: [act.promptOffsets.length], data: act.promptOffsets },
    },
    { prompt_names: JSON.stringify(act.promptNames), ...metadata },
  );
}

/** Writes the SAE as a SAELens folder and returns the folder's path. */
export async function writeSimulatedSaeFolder(sae: SimulatedSae, dir: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  const weights = writeSafetensors({
    W_enc: { dtype: 'F32', shape: [sae.dIn, sae.dSae], data: sae.wEnc },
    W_dec: { dtype: 'F32', shape: [sae.dSae, sae.dIn], data: sae.wDec },
    b_enc: { dtype: 'F32', shape: [sae.dSae], data: sae.bEnc },
    b_dec: { dtype: 'F32', shape: [sae.dIn], data: sae.bDec },
  });
  await writeFile(join(dir, 'sae_weights.safetensors'), weights);
  await writeFile(join(dir, 'cfg.json'), JSON.stringify(saeLensConfig(sae), null, 2) + '\n');
  return dir;
}
