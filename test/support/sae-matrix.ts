import {
  gemmaScopeNpz,
  roundTrip,
  saeLensFiles,
  sparsifyFiles,
  type NormalizeActivations,
  type Sae,
  type SaeArchitecture,
  type SaeFormat,
  type SyntheticSaeWeights,
} from '../../libs/sae/src/index.js';

/** One SAE written in one real format: the files, and the Sae they must load as (built without the loader). */
export interface FormatCase {
  label: string;
  format: SaeFormat;
  files: Map<string, Uint8Array>;
  expected: Sae;
}

/**
 * Every architecture × format × dtype Sentinel reads, for the same weights: SAELens standard/jumprelu/topk
 * in F32/F16/BF16 (plus both input normalisations in F32), sparsify topk in F32/F16/BF16, Gemma Scope
 * JumpReLU in f32/f16. `expected` holds the weights rounded through the file's dtype.
 */
export function formatMatrix(w: SyntheticSaeWeights, k: number): FormatCase[] {
  const cases: FormatCase[] = [];
  const expected = (
    format: SaeFormat,
    architecture: SaeArchitecture,
    dtype: 'F32' | 'F16' | 'BF16',
    applyBDecToInput: boolean,
    normalizeActivations: NormalizeActivations = 'none',
  ): Sae => ({
    format,
    architecture,
    dIn: w.dIn,
    dSae: w.dSae,
    k: architecture === 'topk' ? k : undefined,
    wEnc: roundTrip(w.wEnc, dtype),
    bEnc: roundTrip(w.bEnc, dtype),
    bDec: roundTrip(w.bDec, dtype),
    threshold: architecture === 'jumprelu' ? roundTrip(w.threshold, dtype) : undefined,
    applyBDecToInput,
    normalizeActivations,
    sourceDtype: dtype,
    source: 'expected',
  });
  for (const dtype of ['F32', 'F16', 'BF16'] as const) {
    for (const architecture of ['standard', 'jumprelu', 'topk'] as const) {
      cases.push({
        label: `saelens ${architecture} ${dtype}`,
        format: 'saelens',
        files: saeLensFiles(w, { architecture, k, dtype, applyBDecToInput: true }),
        expected: expected('saelens', architecture, dtype, true),
      });
    }
    cases.push({
      label: `sparsify topk ${dtype}`,
      format: 'sparsify',
      files: sparsifyFiles(w, { k, dtype }),
      expected: expected('sparsify', 'topk', dtype, true),
    });
  }
  for (const norm of ['constant_norm_rescale', 'layer_norm'] as const) {
    cases.push({
      label: `saelens standard F32 ${norm}`,
      format: 'saelens',
      files: saeLensFiles(w, { normalizeActivations: norm }),
      expected: expected('saelens', 'standard', 'F32', true, norm),
    });
  }
  for (const dtype of ['F32', 'F16'] as const) {
    cases.push({
      label: `gemma-scope jumprelu ${dtype}`,
      format: 'gemma-scope',
      files: new Map([['params.npz', gemmaScopeNpz(w, { dtype })]]),
      expected: expected('gemma-scope', 'jumprelu', dtype, false),
    });
  }
  return cases;
}
