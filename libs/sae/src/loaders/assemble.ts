/**
 * Turns checked tensors into an `Sae`: works out d_in and d_sae (from the cfg when it states them, else
 * from the bias vectors), checks every tensor's shape against them, reads the values and rejects NaN/Inf.
 * Each format's loader only says which names and settings apply.
 */
import { SaeFormatError } from '../errors.js';
import { type NormalizeActivations, type Sae, type SaeArchitecture, type SaeFormat } from '../types.js';
import {
  checkShape,
  finiteValues,
  requireTensor,
  sourceDtype,
  type TensorInfo,
  type TensorStore,
} from './tensor-store.js';

/** A dimension and where it came from, for messages: [2304, 'd_in from cfg.json']. */
export type Dim = [value: number, why: string];

export interface SaePlan {
  format: SaeFormat;
  architecture: SaeArchitecture;
  k?: number;
  applyBDecToInput: boolean;
  normalizeActivations: NormalizeActivations;
  /** Folder or file the SAE came from. */
  source: string;
  dIn?: Dim;
  dSae?: Dim;
  names: { wEnc: string; bEnc: string; bDec: string; wDec: string; threshold?: string };
  /** 'in_sae': W_enc is [d_in, d_sae] (SAELens, Gemma Scope); 'sae_in': [d_sae, d_in] (torch Linear). */
  encoderLayout: 'in_sae' | 'sae_in';
  /** Where k came from, for messages (e.g. 'cfg.json field "k"'). */
  kOrigin?: string;
}

function vectorDim(store: TensorStore, info: TensorInfo, what: string): Dim {
  if (info.shape.length !== 1) {
    throw new SaeFormatError(store.file, `has shape [${info.shape.join(', ')}]`, {
      tensor: info.name,
      expected: `[${what}] (a vector)`,
    });
  }
  return [info.shape[0], `${what} from ${info.name}`];
}

export async function assembleSae(store: TensorStore, plan: SaePlan): Promise<Sae> {
  const { names } = plan;
  const bEncInfo = requireTensor(store, names.bEnc, '[d_sae]');
  const bDecInfo = requireTensor(store, names.bDec, '[d_in]');
  const [dSae, dSaeWhy] = plan.dSae ?? vectorDim(store, bEncInfo, 'd_sae');
  const [dIn, dInWhy] = plan.dIn ?? vectorDim(store, bDecInfo, 'd_in');
  checkShape(store, bEncInfo, [dSae], dSaeWhy);
  checkShape(store, bDecInfo, [dIn], dInWhy);
  const both = `${dInWhy}, ${dSaeWhy}`;
  const wEncInfo = requireTensor(
    store,
    names.wEnc,
    plan.encoderLayout === 'in_sae' ? '[d_in, d_sae]' : '[d_sae, d_in]',
  );
  if (plan.encoderLayout === 'in_sae') checkShape(store, wEncInfo, [dIn, dSae], `d_in × d_sae: ${both}`);
  else checkShape(store, wEncInfo, [dSae, dIn], `d_sae × d_in: ${both}`);
  const wDecInfo = requireTensor(store, names.wDec, '[d_sae, d_in]');
  checkShape(store, wDecInfo, [dSae, dIn], `d_sae × d_in: ${both}`);
  let thresholdInfo: TensorInfo | undefined;
  if (plan.architecture === 'jumprelu') {
    thresholdInfo = requireTensor(store, names.threshold ?? 'threshold', '[d_sae] (jumprelu)');
    checkShape(store, thresholdInfo, [dSae], dSaeWhy);
  }
  if (plan.architecture === 'topk' && !(Number.isSafeInteger(plan.k) && plan.k! >= 1 && plan.k! <= dSae)) {
    throw new SaeFormatError(store.file, `topk k is ${JSON.stringify(plan.k)} (${plan.kOrigin ?? 'k'})`, {
      expected: `an integer from 1 to d_sae ${dSae}`,
    });
  }
  // W_dec is only checked, never read: encoding does not use it.
  const wEncRaw = await finiteValues(store, wEncInfo);
  return {
    format: plan.format,
    architecture: plan.architecture,
    dIn,
    dSae,
    k: plan.architecture === 'topk' ? plan.k : undefined,
    wEnc: plan.encoderLayout === 'in_sae' ? wEncRaw : transpose(wEncRaw, dSae, dIn),
    bEnc: await finiteValues(store, bEncInfo),
    bDec: await finiteValues(store, bDecInfo),
    threshold: thresholdInfo ? await finiteValues(store, thresholdInfo) : undefined,
    applyBDecToInput: plan.applyBDecToInput,
    normalizeActivations: plan.normalizeActivations,
    sourceDtype: sourceDtype(wEncInfo),
    source: plan.source,
  };
}

/** [rows, cols] row-major → [cols, rows] row-major, in cache-friendly tiles. */
export function transpose(a: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(a.length);
  const T = 64;
  for (let r0 = 0; r0 < rows; r0 += T) {
    for (let c0 = 0; c0 < cols; c0 += T) {
      const r1 = Math.min(r0 + T, rows);
      const c1 = Math.min(c0 + T, cols);
      for (let r = r0; r < r1; r++) for (let c = c0; c < c1; c++) out[c * rows + r] = a[r * cols + c];
    }
  }
  return out;
}
