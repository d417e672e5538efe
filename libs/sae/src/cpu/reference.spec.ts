import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EncodeInputError } from '../errors.js';
import { type Activations, type Sae } from '../types.js';
import { CpuBackend } from './backend.js';
import { cpuEncodeDense, cpuEncodeStats } from './reference.js';

/** d_in 2, d_sae 3; W_enc rows [1, 0, -1] and [0, 1, 1]; b_enc [0, 0, 0.5]; b_dec [1, 0]. */
function smallSae(overrides: Partial<Sae> = {}): Sae {
  return {
    format: 'saelens',
    architecture: 'standard',
    dIn: 2,
    dSae: 3,
    wEnc: Float32Array.from([1, 0, -1, 0, 1, 1]),
    bEnc: Float32Array.from([0, 0, 0.5]),
    bDec: Float32Array.from([1, 0]),
    applyBDecToInput: true,
    normalizeActivations: 'none',
    sourceDtype: 'F32',
    source: 'small',
    ...overrides,
  };
}

// Tokens [2, 1], [0, 3], [1, -1]; minus b_dec: [1, 1], [-1, 3], [0, -1];
// pre-activations h: [1, 1, 0.5], [-1, 3, 4.5], [0, -1, -0.5].
const acts: Activations = {
  nTokens: 3,
  dIn: 2,
  data: Float32Array.from([2, 1, 0, 3, 1, -1]),
  promptOffsets: Int32Array.from([0, 2, 2, 3]),
};

function near(actual: ArrayLike<number>, expected: number[], message?: string): void {
  assert.equal(actual.length, expected.length, message);
  for (let i = 0; i < expected.length; i++) {
    assert.ok(
      Math.abs(actual[i] - expected[i]) < 1e-6,
      `${message ?? ''} [${i}]: ${actual[i]} vs ${expected[i]}`,
    );
  }
}

test('standard (ReLU) with b_dec subtracted, prompt means (one prompt empty) and a direction', () => {
  const stats = cpuEncodeStats(smallSae(), acts, {
    directions: [{ name: 'v', vector: Float32Array.from([3, 4]) }],
  });
  // Encodings: [1, 1, 0.5], [0, 3, 4.5], [0, 0, 0].
  near(stats.mean, [1 / 3, 4 / 3, 5 / 3], 'mean');
  near(stats.fracActive, [1 / 3, 2 / 3, 2 / 3], 'fracActive');
  near(stats.max, [1, 3, 4.5], 'max');
  near(stats.promptMean!, [0.5, 2, 2.5, 0, 0, 0, 0, 0, 0], 'promptMean');
  assert.equal(stats.nPrompts, 3);
  assert.equal(stats.backend, 'cpu');
  assert.equal(stats.adapter, 'cpu');
  // x·v/‖v‖ on the raw tokens: 10/5, 12/5, -1/5.
  assert.equal(stats.directions[0].name, 'v');
  near([stats.directions[0].mean], [1.4]);
  near(stats.directions[0].promptMeans, [2.2, 0, -0.2]);
});

test('jumprelu: relu(h)·[h > threshold]', () => {
  const stats = cpuEncodeStats(
    smallSae({ architecture: 'jumprelu', threshold: Float32Array.from([1, 2, -10]) }),
    acts,
  );
  // h0 = 1 is not > 1; h2 = -0.5 > -10 but relu makes it 0. Encodings: [0, 0, 0.5], [0, 3, 4.5], [0, 0, 0].
  near(stats.mean, [0, 1, 5 / 3]);
  near(stats.fracActive, [0, 1 / 3, 2 / 3]);
  near(stats.max, [0, 3, 4.5]);
});

test('topk keeps the k largest pre-activations (ties to the lower index), then ReLU', () => {
  const k1 = cpuEncodeStats(smallSae({ architecture: 'topk', k: 1 }), acts);
  // Token 0: h0 = h1 = 1 tie, latent 0 kept. Token 2: the largest is h0 = 0, which ReLU zeroes.
  near(k1.mean, [1 / 3, 0, 1.5]);
  near(k1.fracActive, [1 / 3, 0, 1 / 3]);
  const k2 = cpuEncodeStats(smallSae({ architecture: 'topk', k: 2 }), acts);
  near(k2.mean, [1 / 3, 4 / 3, 1.5]);
  const all = cpuEncodeStats(smallSae({ architecture: 'topk', k: 10 }), acts);
  near(all.mean, [1 / 3, 4 / 3, 5 / 3], 'k ≥ d_sae is plain ReLU');
});

test('input normalisation comes before the b_dec subtraction', () => {
  const identity = {
    dSae: 2,
    wEnc: Float32Array.from([1, 0, 0, 1]),
    bEnc: Float32Array.from([0, 0]),
    bDec: Float32Array.from([0.1, 0.1]),
  };
  const one = (data: number[]): Activations => ({ nTokens: 1, dIn: 2, data: Float32Array.from(data) });
  const rescale = cpuEncodeStats(
    smallSae({ ...identity, normalizeActivations: 'constant_norm_rescale' }),
    one([3, 4]),
  );
  near(rescale.mean, [(3 * Math.SQRT2) / 5 - 0.1, (4 * Math.SQRT2) / 5 - 0.1]);
  // layer_norm: [1, 3] → mean 2, centred [-1, 1], std (Bessel) √2.
  const ln = cpuEncodeStats(smallSae({ ...identity, normalizeActivations: 'layer_norm' }), one([1, 3]));
  near(ln.mean, [0, 1 / (Math.SQRT2 + 1e-5) - 0.1]);
  const zero = cpuEncodeStats(
    smallSae({ ...identity, normalizeActivations: 'constant_norm_rescale', applyBDecToInput: false }),
    one([0, 0]),
  );
  near(zero.mean, [0, 0], 'an all-zero token stays zero');
});

test('blocked statistics agree with the dense encodings across block and prompt boundaries', async () => {
  let seed = 11;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 2 - 1;
  const dIn = 5;
  const dSae = 7;
  const nTokens = 21;
  const sae = smallSae({
    architecture: 'topk',
    k: 3,
    dIn,
    dSae,
    wEnc: Float32Array.from({ length: dIn * dSae }, rand),
    bEnc: Float32Array.from({ length: dSae }, rand),
    bDec: Float32Array.from({ length: dIn }, rand),
    normalizeActivations: 'layer_norm',
  });
  const input: Activations = {
    nTokens,
    dIn,
    data: Float32Array.from({ length: nTokens * dIn }, rand),
    promptOffsets: Int32Array.from([0, 7, 7, 9, 21]),
  };
  const dense = cpuEncodeDense(sae, input);
  const stats = cpuEncodeStats(sae, input);
  for (let j = 0; j < dSae; j++) {
    const column = Array.from({ length: nTokens }, (_, t) => dense[t * dSae + j]);
    near([stats.mean[j]], [column.reduce((a, b) => a + b) / nTokens], `mean ${j}`);
    near([stats.max[j]], [Math.max(...column)], `max ${j}`);
    near([stats.fracActive[j]], [column.filter((v) => v > 0).length / nTokens], `frac ${j}`);
    for (let p = 0; p < 4; p++) {
      const [a, b] = [input.promptOffsets![p], input.promptOffsets![p + 1]];
      const part = column.slice(a, b);
      near(
        [stats.promptMean![p * dSae + j]],
        [part.length ? part.reduce((x, y) => x + y) / part.length : 0],
        `p${p} ${j}`,
      );
    }
  }
  for (let t = 0; t < nTokens; t++) {
    assert.ok(dense.subarray(t * dSae, (t + 1) * dSae).filter((v) => v > 0).length <= 3, 'at most k active');
  }
  const viaBackend = await new CpuBackend().encode(sae, input);
  assert.deepEqual(viaBackend.mean, stats.mean);
  assert.deepEqual(viaBackend.promptMean, stats.promptMean);
});

test('promptMeans: false skips prompt means; inputs that do not fit are refused', () => {
  assert.equal(cpuEncodeStats(smallSae(), acts, { promptMeans: false }).promptMean, undefined);
  const refuses = (fn: () => unknown, pattern: RegExp) =>
    assert.throws(fn, (err: unknown) => err instanceof EncodeInputError && pattern.test(err.message));
  refuses(
    () => cpuEncodeStats(smallSae({ dIn: 3 }), acts),
    /activations have d_in 2, the SAE \(small\) expects d_in 3/,
  );
  refuses(
    () => cpuEncodeStats(smallSae(), acts, { directions: [{ name: 'z', vector: new Float32Array(2) }] }),
    /direction "z" has norm 0/,
  );
  refuses(
    () => cpuEncodeStats(smallSae(), acts, { directions: [{ name: 'w', vector: new Float32Array(3) }] }),
    /direction "w" has 3 dimensions, expected d_in 2/,
  );
  refuses(
    () => cpuEncodeStats(smallSae(), { ...acts, promptOffsets: undefined }, { promptMeans: true }),
    /no prompt offsets/,
  );
  refuses(
    () => cpuEncodeStats(smallSae(), { ...acts, promptOffsets: Int32Array.from([0, 2]) }),
    /end at n_tokens 3/,
  );
  refuses(() => cpuEncodeStats(smallSae({ architecture: 'topk' }), acts), /has k undefined/);
});
