/**
 * Checks shared by every backend before encoding: the SAE, the activations and the options must fit
 * together. Loaders and the activations parser already validated each input alone; activations built in
 * code (the simulator, tests) get the same checks here.
 */
import { EncodeInputError } from './errors.js';
import { type Activations, type EncodeOptions, type Sae } from './types.js';

export interface EncodePlan {
  nPrompts: number;
  /** Whether prompt_mean is computed. */
  promptMeans: boolean;
}

export function checkEncodeInputs(sae: Sae, acts: Activations, options: EncodeOptions = {}): EncodePlan {
  const fail = (message: string) => new EncodeInputError(message);
  if (acts.dIn !== sae.dIn) {
    throw fail(`activations have d_in ${acts.dIn}, the SAE (${sae.source}) expects d_in ${sae.dIn}`);
  }
  if (!Number.isSafeInteger(acts.nTokens) || acts.nTokens < 1) {
    throw fail(`activations have ${acts.nTokens} tokens, expected at least 1`);
  }
  if (acts.data.length !== acts.nTokens * acts.dIn) {
    throw fail(
      `activations hold ${acts.data.length} values, expected ${acts.nTokens * acts.dIn} (n_tokens ${acts.nTokens} × d_in ${acts.dIn})`,
    );
  }
  if (sae.architecture === 'topk' && !(Number.isSafeInteger(sae.k) && sae.k! >= 1)) {
    throw fail(`topk SAE ${sae.source} has k ${sae.k}, expected an integer ≥ 1`);
  }
  if (sae.architecture === 'jumprelu' && sae.threshold?.length !== sae.dSae) {
    throw fail(`jumprelu SAE ${sae.source} needs threshold [${sae.dSae}]`);
  }
  const offsets = acts.promptOffsets;
  if (offsets) {
    const n = offsets.length;
    let ok = n >= 2 && offsets[0] === 0 && offsets[n - 1] === acts.nTokens;
    for (let p = 1; ok && p < n; p++) ok = offsets[p] >= offsets[p - 1];
    if (!ok) {
      throw fail(`prompt offsets must start at 0, not decrease and end at n_tokens ${acts.nTokens}`);
    }
  }
  if (options.promptMeans && !offsets)
    throw fail('prompt means were asked for but the activations have no prompt offsets');
  for (const d of options.directions ?? []) {
    if (d.vector.length !== sae.dIn) {
      throw fail(`direction "${d.name}" has ${d.vector.length} dimensions, expected d_in ${sae.dIn}`);
    }
    let norm = 0;
    for (let i = 0; i < d.vector.length; i++) norm += d.vector[i] * d.vector[i];
    if (!(norm > 0 && Number.isFinite(norm))) {
      throw fail(`direction "${d.name}" has norm ${Math.sqrt(norm)}, expected a finite non-zero vector`);
    }
  }
  return {
    nPrompts: offsets ? offsets.length - 1 : 0,
    promptMeans: offsets !== undefined && options.promptMeans !== false,
  };
}
