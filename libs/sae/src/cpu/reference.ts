/**
 * The CPU reference: the statistics of docs/engine.md computed in plain TypeScript, in f64 accumulators.
 * Tests hold the WebGPU kernels to it, and the engine falls back to it when there is no adapter.
 *
 * Per token x (a row of the activations):
 *   1. input normalisation (normalize_activations), 2. x − b_dec when applyBDecToInput,
 *   3. h = x·W_enc + b_enc, 4. the architecture's activation function, 5. accumulate mean, frac_active,
 *   max and per-prompt means. Directions use the raw x.
 */
import { checkEncodeInputs, type EncodePlan } from '../encode-inputs.js';
import { type Activations, type EncodeOptions, type EncodeStats, type Sae } from '../types.js';

/** Tokens encoded per pass over W_enc: each W_enc row is read once for the whole block (cache reuse). */
const TOKEN_BLOCK = 8;

/** The epsilon SAELens adds to the standard deviation in layer_norm input normalisation. */
export const LAYER_NORM_EPS = 1e-5;

/**
 * Normalises one token in place, as SAELens does at run time.
 * - constant_norm_rescale: x·sqrt(d_in)/‖x‖ (an all-zero token stays zero instead of becoming NaN).
 * - layer_norm: (x − mean)/(std + 1e-5), std with Bessel's correction like torch.std (0 when d_in is 1).
 */
export function normalizeInput(sae: Sae, x: Float64Array): void {
  const n = x.length;
  if (sae.normalizeActivations === 'constant_norm_rescale') {
    let sq = 0;
    for (let i = 0; i < n; i++) sq += x[i] * x[i];
    if (sq === 0) return;
    const scale = Math.sqrt(n) / Math.sqrt(sq);
    for (let i = 0; i < n; i++) x[i] *= scale;
  } else if (sae.normalizeActivations === 'layer_norm') {
    let sum = 0;
    for (let i = 0; i < n; i++) sum += x[i];
    const mean = sum / n;
    let sq = 0;
    for (let i = 0; i < n; i++) {
      x[i] -= mean;
      sq += x[i] * x[i];
    }
    const std = n > 1 ? Math.sqrt(sq / (n - 1)) : 0;
    const inv = 1 / (std + LAYER_NORM_EPS);
    for (let i = 0; i < n; i++) x[i] *= inv;
  }
}

/**
 * Applies the architecture's activation function to pre-activations `h` in place.
 * topk keeps the k largest pre-activations, then applies ReLU. Ties at the k-th largest value are broken
 * by latent index: the lowest indices are kept, so exactly min(k, d_sae) latents survive selection.
 */
export function activate(sae: Sae, h: Float64Array, scratch: Float64Array): void {
  const n = h.length;
  if (sae.architecture === 'standard') {
    for (let j = 0; j < n; j++) if (!(h[j] > 0)) h[j] = 0;
  } else if (sae.architecture === 'jumprelu') {
    const threshold = sae.threshold!;
    for (let j = 0; j < n; j++) if (!(h[j] > 0 && h[j] > threshold[j])) h[j] = 0;
  } else {
    const k = sae.k!;
    if (k < n) {
      scratch.set(h);
      scratch.sort();
      const kth = scratch[n - k];
      let above = 0;
      for (let j = 0; j < n; j++) if (h[j] > kth) above++;
      let tiesLeft = k - above;
      for (let j = 0; j < n; j++) {
        if (h[j] > kth) continue;
        if (h[j] === kth && tiesLeft > 0) tiesLeft--;
        else h[j] = 0;
      }
    }
    for (let j = 0; j < n; j++) if (!(h[j] > 0)) h[j] = 0;
  }
}

/** Encodes tokens in order and accumulates the statistics; `run` may be called in slices. */
class Accumulator {
  readonly dSae: number;
  readonly sum: Float64Array;
  readonly active: Float64Array;
  readonly max: Float64Array;
  readonly promptMean?: Float32Array;
  private readonly promptSum?: Float64Array;
  private readonly dirs: {
    name: string;
    unit: Float64Array;
    sum: number;
    promptSum: number;
    promptMeans: Float32Array;
  }[];
  private readonly x: Float64Array;
  private readonly h: Float64Array;
  private readonly scratch: Float64Array;
  private readonly dots: Float64Array;
  private prompt = 0;

  constructor(
    private readonly sae: Sae,
    private readonly acts: Activations,
    private readonly plan: EncodePlan,
    options: EncodeOptions,
  ) {
    this.dSae = sae.dSae;
    this.sum = new Float64Array(sae.dSae);
    this.active = new Float64Array(sae.dSae);
    this.max = new Float64Array(sae.dSae).fill(-Infinity);
    if (plan.promptMeans) {
      this.promptMean = new Float32Array(plan.nPrompts * sae.dSae);
      this.promptSum = new Float64Array(sae.dSae);
    }
    this.dirs = (options.directions ?? []).map((d) => {
      const norm = Math.sqrt(d.vector.reduce((s, v) => s + v * v, 0));
      return {
        name: d.name,
        unit: Float64Array.from(d.vector, (v) => v / norm),
        sum: 0,
        promptSum: 0,
        promptMeans: new Float32Array(plan.nPrompts),
      };
    });
    this.x = new Float64Array(TOKEN_BLOCK * sae.dIn);
    this.h = new Float64Array(TOKEN_BLOCK * sae.dSae);
    this.scratch = new Float64Array(sae.dSae);
    this.dots = new Float64Array(TOKEN_BLOCK * this.dirs.length);
    this.closePrompts(0);
  }

  /** Encodes tokens [from, to). */
  run(from: number, to: number): void {
    for (let t0 = from; t0 < to; t0 += TOKEN_BLOCK) this.block(t0, Math.min(TOKEN_BLOCK, to - t0));
  }

  private block(t0: number, count: number): void {
    const { sae, acts, x, h } = this;
    const { dIn, dSae, wEnc, bEnc, bDec } = sae;
    for (let b = 0; b < count; b++) {
      const row = x.subarray(b * dIn, (b + 1) * dIn);
      const base = (t0 + b) * dIn;
      for (let i = 0; i < dIn; i++) row[i] = acts.data[base + i];
      this.project(row, b);
      normalizeInput(sae, row);
      if (sae.applyBDecToInput) for (let i = 0; i < dIn; i++) row[i] -= bDec[i];
      h.set(bEnc, b * dSae);
    }
    // i over d_in outside, j over a W_enc row inside: the row is contiguous, and each element is loaded
    // once for four tokens at a time (about twice as fast in V8 as one token per pass).
    for (let i = 0; i < dIn; i++) {
      const w = i * dSae;
      let b = 0;
      for (; b + 4 <= count; b += 4) {
        const x0 = x[b * dIn + i];
        const x1 = x[(b + 1) * dIn + i];
        const x2 = x[(b + 2) * dIn + i];
        const x3 = x[(b + 3) * dIn + i];
        const o0 = b * dSae;
        const o1 = o0 + dSae;
        const o2 = o1 + dSae;
        const o3 = o2 + dSae;
        for (let j = 0; j < dSae; j++) {
          const wv = wEnc[w + j];
          h[o0 + j] += x0 * wv;
          h[o1 + j] += x1 * wv;
          h[o2 + j] += x2 * wv;
          h[o3 + j] += x3 * wv;
        }
      }
      for (; b < count; b++) {
        const xi = x[b * dIn + i];
        const o = b * dSae;
        for (let j = 0; j < dSae; j++) h[o + j] += xi * wEnc[w + j];
      }
    }
    for (let b = 0; b < count; b++) this.accumulate(h.subarray(b * dSae, (b + 1) * dSae), t0 + b, b);
  }

  /** x·v/‖v‖ of the raw token for every direction, kept until the token is accumulated. */
  private project(x: Float64Array, b: number): void {
    this.dirs.forEach((d, k) => {
      let dot = 0;
      for (let i = 0; i < x.length; i++) dot += x[i] * d.unit[i];
      this.dots[b * this.dirs.length + k] = dot;
    });
  }

  private accumulate(a: Float64Array, token: number, b: number): void {
    activate(this.sae, a, this.scratch);
    this.dirs.forEach((d, k) => {
      d.sum += this.dots[b * this.dirs.length + k];
      d.promptSum += this.dots[b * this.dirs.length + k];
    });
    const { sum, active, max, promptSum } = this;
    for (let j = 0; j < a.length; j++) {
      const v = a[j];
      sum[j] += v;
      if (v > 0) active[j]++;
      if (v > max[j]) max[j] = v;
    }
    if (promptSum) for (let j = 0; j < a.length; j++) promptSum[j] += a[j];
    this.closePrompts(token + 1);
  }

  /** Closes every prompt that ends at `nextToken` (the token after the last one seen). */
  private closePrompts(nextToken: number): void {
    const offsets = this.acts.promptOffsets;
    if (!offsets) return;
    while (this.prompt < this.plan.nPrompts && offsets[this.prompt + 1] <= nextToken) {
      const length = offsets[this.prompt + 1] - offsets[this.prompt];
      if (this.promptSum && this.promptMean) {
        const out = this.promptMean.subarray(this.prompt * this.dSae, (this.prompt + 1) * this.dSae);
        for (let j = 0; j < this.dSae; j++) out[j] = length ? this.promptSum[j] / length : 0;
        this.promptSum.fill(0);
      }
      for (const d of this.dirs) {
        d.promptMeans[this.prompt] = length ? d.promptSum / length : 0;
        d.promptSum = 0;
      }
      this.prompt++;
    }
  }

  result(timings: Record<string, number>): EncodeStats {
    const n = this.acts.nTokens;
    return {
      backend: 'cpu',
      adapter: 'cpu',
      nTokens: n,
      dSae: this.dSae,
      nPrompts: this.plan.nPrompts,
      mean: Float32Array.from(this.sum, (s) => s / n),
      fracActive: Float32Array.from(this.active, (c) => c / n),
      max: Float32Array.from(this.max),
      promptMean: this.promptMean,
      directions: this.dirs.map((d) => ({ name: d.name, mean: d.sum / n, promptMeans: d.promptMeans })),
      timings,
    };
  }
}

/** Statistics of one batch of activations, synchronously (tests, small inputs). */
export function cpuEncodeStats(sae: Sae, acts: Activations, options: EncodeOptions = {}): EncodeStats {
  const start = performance.now();
  const acc = new Accumulator(sae, acts, checkEncodeInputs(sae, acts, options), options);
  acc.run(0, acts.nTokens);
  const ms = performance.now() - start;
  return acc.result({ encode: ms, total: ms });
}

/**
 * Statistics as cpuEncodeStats, yielding to the event loop about every `sliceMs` so a worker using the
 * CPU fallback still answers health checks and heartbeats during a long encode.
 */
export async function cpuEncodeStatsAsync(
  sae: Sae,
  acts: Activations,
  options: EncodeOptions = {},
  sliceMs = 20,
): Promise<EncodeStats> {
  const start = performance.now();
  const acc = new Accumulator(sae, acts, checkEncodeInputs(sae, acts, options), options);
  let sliceStart = performance.now();
  for (let t = 0; t < acts.nTokens; t += TOKEN_BLOCK) {
    acc.run(t, Math.min(t + TOKEN_BLOCK, acts.nTokens));
    if (performance.now() - sliceStart > sliceMs) {
      await new Promise((resolve) => setImmediate(resolve));
      sliceStart = performance.now();
    }
  }
  const ms = performance.now() - start;
  return acc.result({ encode: ms, total: ms });
}

/**
 * The dense encodings a[t][j] [n_tokens, d_sae], for tests that compare encodings element by element.
 * Memory grows with n_tokens × d_sae: keep inputs small.
 */
export function cpuEncodeDense(sae: Sae, acts: Activations): Float32Array {
  checkEncodeInputs(sae, acts);
  const out = new Float32Array(acts.nTokens * sae.dSae);
  const x = new Float64Array(sae.dIn);
  const h = new Float64Array(sae.dSae);
  const scratch = new Float64Array(sae.dSae);
  for (let t = 0; t < acts.nTokens; t++) {
    for (let i = 0; i < sae.dIn; i++) x[i] = acts.data[t * sae.dIn + i];
    normalizeInput(sae, x);
    if (sae.applyBDecToInput) for (let i = 0; i < sae.dIn; i++) x[i] -= sae.bDec[i];
    for (let j = 0; j < sae.dSae; j++) h[j] = sae.bEnc[j];
    for (let i = 0; i < sae.dIn; i++) {
      for (let j = 0; j < sae.dSae; j++) h[j] += x[i] * sae.wEnc[i * sae.dSae + j];
    }
    activate(sae, h, scratch);
    out.set(h, t * sae.dSae);
  }
  return out;
}
