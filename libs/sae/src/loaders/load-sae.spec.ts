import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cpuEncodeStats } from '../cpu/reference.js';
import { SaeFormatError } from '../errors.js';
import { roundTrip } from '../formats/dtype.js';
import { writeSafetensors } from '../formats/safetensors.js';
import { type Activations, type Sae } from '../types.js';
import { memorySource, type ByteSource } from '../formats/byte-source.js';
import { loadSaeFromFiles, loadSaeFromSources } from './load-sae.js';
import {
  gemmaScopeNpz,
  saeLensFiles,
  sparsifyFiles,
  syntheticSaeWeights,
  type SaeWeights,
} from './writers.js';

const W = syntheticSaeWeights(6, 10, 3);

function expectWeights(sae: Sae, w: SaeWeights, dtype: 'F32' | 'F16' | 'BF16'): void {
  assert.equal(sae.dIn, w.dIn);
  assert.equal(sae.dSae, w.dSae);
  assert.equal(sae.sourceDtype, dtype);
  assert.deepEqual([...sae.wEnc], [...roundTrip(w.wEnc, dtype)], 'W_enc as [d_in, d_sae]');
  assert.deepEqual([...sae.bEnc], [...roundTrip(w.bEnc, dtype)]);
  assert.deepEqual([...sae.bDec], [...roundTrip(w.bDec, dtype)]);
}

async function refuses(
  files: Map<string, Uint8Array>,
  pattern: RegExp,
  format?: Sae['format'],
): Promise<void> {
  await assert.rejects(
    loadSaeFromFiles(files, format, 'sae'),
    (err: unknown) => err instanceof SaeFormatError && pattern.test(err.message),
    String(pattern),
  );
}

test('SAELens standard, jumprelu and topk in F32, F16 and BF16', async () => {
  for (const dtype of ['F32', 'F16', 'BF16'] as const) {
    const standard = await loadSaeFromFiles(saeLensFiles(W, { dtype }));
    assert.equal(standard.format, 'saelens');
    assert.equal(standard.architecture, 'standard');
    assert.equal(standard.applyBDecToInput, true);
    expectWeights(standard, W, dtype);
    const jump = await loadSaeFromFiles(saeLensFiles(W, { dtype, architecture: 'jumprelu' }));
    assert.equal(jump.architecture, 'jumprelu');
    assert.deepEqual([...jump.threshold!], [...roundTrip(W.threshold, dtype)]);
    const topk = await loadSaeFromFiles(saeLensFiles(W, { dtype, architecture: 'topk', k: 3 }));
    assert.equal(topk.architecture, 'topk');
    assert.equal(topk.k, 3);
  }
});

test('SAELens cfg: defaults and the older spellings SAELens still accepts', async () => {
  const old = await loadSaeFromFiles(
    saeLensFiles(W, {
      cfg: { architecture: undefined, apply_b_dec_to_input: undefined, normalize_activations: undefined },
    }),
  );
  assert.deepEqual(
    [old.architecture, old.applyBDecToInput, old.normalizeActivations],
    ['standard', true, 'none'],
  );
  const oldTopk = await loadSaeFromFiles(
    saeLensFiles(W, {
      cfg: { architecture: undefined, activation_fn_str: 'topk', activation_fn_kwargs: { k: 4 } },
    }),
  );
  assert.deepEqual([oldTopk.architecture, oldTopk.k], ['topk', 4]);
  const v5Topk = await loadSaeFromFiles(
    saeLensFiles(W, { architecture: 'topk', k: 2, cfg: { k: undefined, activation_fn_kwargs: { k: 5 } } }),
  );
  assert.equal(v5Topk.k, 5);
  for (const [value, expected] of [
    [true, 'none'], // expected_average_only_in: no run-time normalisation in SAELens
    [false, 'none'],
    [null, 'none'],
    ['expected_average_only_in', 'none'],
    ['constant_norm_rescale', 'constant_norm_rescale'],
    ['layer_norm', 'layer_norm'],
  ] as const) {
    const sae = await loadSaeFromFiles(saeLensFiles(W, { normalizeActivations: value }));
    assert.equal(sae.normalizeActivations, expected, String(value));
  }
  const noBDec = await loadSaeFromFiles(saeLensFiles(W, { applyBDecToInput: false }));
  assert.equal(noBDec.applyBDecToInput, false);
});

test('sparsify: encoder.weight is transposed, top-k of relu(encoder(x − b_dec))', async () => {
  for (const dtype of ['F32', 'F16', 'BF16'] as const) {
    const sae = await loadSaeFromFiles(sparsifyFiles(W, { k: 4, dtype }));
    assert.deepEqual(
      [sae.format, sae.architecture, sae.k, sae.applyBDecToInput],
      ['sparsify', 'topk', 4, true],
    );
    expectWeights(sae, W, dtype);
  }
  const byFactor = await loadSaeFromFiles(
    sparsifyFiles(syntheticSaeWeights(3, 6), { k: 2, cfg: { num_latents: 0, expansion_factor: 2 } }),
  );
  assert.equal(byFactor.dSae, 6);
  const transcoder = await loadSaeFromFiles(sparsifyFiles(W, { k: 2, cfg: { transcode: true } }));
  assert.equal(transcoder.applyBDecToInput, false);
  const defaultK = await loadSaeFromFiles(
    sparsifyFiles(syntheticSaeWeights(4, 40), { k: 1, cfg: { k: undefined } }),
  );
  assert.equal(defaultK.k, 32);
});

test('Gemma Scope params.npz: JumpReLU without b_dec subtraction, f32 or f16, stored or deflated', async () => {
  for (const dtype of ['F32', 'F16'] as const) {
    for (const compress of [false, true]) {
      const sae = await loadSaeFromFiles(new Map([['params.npz', gemmaScopeNpz(W, { dtype, compress })]]));
      assert.deepEqual(
        [sae.format, sae.architecture, sae.applyBDecToInput],
        ['gemma-scope', 'jumprelu', false],
      );
      expectWeights(sae, W, dtype);
      assert.deepEqual([...sae.threshold!], [...roundTrip(W.threshold, dtype)]);
    }
  }
});

test('one SAE in three formats encodes the same (F32)', async () => {
  const acts: Activations = {
    nTokens: 4,
    dIn: 6,
    data: Float32Array.from({ length: 24 }, (_, i) => Math.sin(i)),
  };
  const saelens = await loadSaeFromFiles(saeLensFiles(W, { architecture: 'topk', k: 3 }));
  const sparsify = await loadSaeFromFiles(sparsifyFiles(W, { k: 3 }));
  assert.deepEqual(cpuEncodeStats(saelens, acts).mean, cpuEncodeStats(sparsify, acts).mean);
  const jump = await loadSaeFromFiles(saeLensFiles(W, { architecture: 'jumprelu', applyBDecToInput: false }));
  const gemma = await loadSaeFromFiles(new Map([['params.npz', gemmaScopeNpz(W)]]));
  assert.deepEqual(cpuEncodeStats(jump, acts).mean, cpuEncodeStats(gemma, acts).mean);
});

function withTensors(
  tensors: Parameters<typeof writeSafetensors>[0],
  cfg?: Record<string, unknown>,
): Map<string, Uint8Array> {
  const files = saeLensFiles(W, { cfg });
  files.set('sae_weights.safetensors', writeSafetensors(tensors));
  return files;
}

const good = {
  W_enc: { dtype: 'F32' as const, shape: [6, 10], data: W.wEnc },
  b_enc: { dtype: 'F32' as const, shape: [10], data: W.bEnc },
  W_dec: { dtype: 'F32' as const, shape: [10, 6], data: new Float32Array(60) },
  b_dec: { dtype: 'F32' as const, shape: [6], data: W.bDec },
};

test('wrong shapes, dtypes, missing tensors and NaN are refused naming file, tensor and expectation', async () => {
  await refuses(
    withTensors({ ...good, W_enc: { dtype: 'F32', shape: [10, 6], data: W.wEnc } }),
    /^sae\/sae_weights.safetensors: tensor "W_enc" has shape \[10, 6\], expected \[6, 10\] \(d_in × d_sae: d_in from cfg.json, d_sae from cfg.json\)$/,
  );
  await refuses(
    withTensors(
      { ...good, W_enc: { dtype: 'F32', shape: [6, 9], data: W.wEnc.subarray(0, 54) } },
      { d_sae: undefined },
    ),
    /tensor "W_enc" has shape \[6, 9\], expected \[6, 10\] \(d_in × d_sae: d_in from cfg.json, d_sae from b_enc\)/,
  );
  await refuses(
    withTensors({ ...good, b_dec: { dtype: 'F32', shape: [5], data: W.bDec.subarray(0, 5) } }),
    /tensor "b_dec" has shape \[5\], expected \[6\] \(d_in from cfg.json\)/,
  );
  await refuses(
    withTensors({ ...good, W_enc: { dtype: 'I32', shape: [6, 10], data: new Int32Array(60) } }),
    /tensor "W_enc" has dtype I32, expected F32, F16 or BF16/,
  );
  await refuses(
    withTensors({ ...good, W_enc: { dtype: 'F64', shape: [6, 10], bytes: new Uint8Array(480) } }),
    /tensor "W_enc" has dtype F64, expected F32, F16 or BF16/,
  );
  const { W_dec: _omit, ...noDec } = good;
  await refuses(
    withTensors(noDec),
    /tensor "W_dec" is missing \(tensors present: "W_enc", "b_dec", "b_enc"\), expected \[d_sae, d_in\]/,
  );
  const nan = Float32Array.from(W.wEnc);
  nan[13] = NaN;
  await refuses(
    withTensors({ ...good, W_enc: { dtype: 'F32', shape: [6, 10], data: nan } }),
    /tensor "W_enc" has NaN at \[1, 3\], expected finite values/,
  );
  await refuses(
    withTensors(good, { architecture: 'jumprelu' }),
    /tensor "threshold" is missing .*expected \[d_sae\] \(jumprelu\)/,
  );
  const bf16Inf = saeLensFiles(
    { ...W, bEnc: Float32Array.from(W.bEnc, (v, i) => (i === 2 ? 1e39 : v)) },
    { dtype: 'BF16' },
  );
  await refuses(bf16Inf, /tensor "b_enc" has Infinity at \[2\]/);
});

test('bad cfg.json is refused naming the field', async () => {
  const cfgFiles = (cfg: Record<string, unknown>) => saeLensFiles(W, { cfg });
  await refuses(
    cfgFiles({ architecture: 'gated' }),
    /^sae\/cfg.json: field "architecture" is "gated", expected "standard", "jumprelu" or "topk"$/,
  );
  await refuses(
    cfgFiles({ normalize_activations: 'batch_norm' }),
    /field "normalize_activations" is "batch_norm", expected one of "none"/,
  );
  await refuses(
    cfgFiles({ apply_b_dec_to_input: 'yes' }),
    /field "apply_b_dec_to_input" is "yes", expected true or false/,
  );
  await refuses(
    cfgFiles({ activation_fn_str: 'tanh-relu' }),
    /field "activation_fn_str" is "tanh-relu", expected "relu" or "topk"/,
  );
  await refuses(cfgFiles({ d_in: -3 }), /field "d_in" is -3, expected a positive integer/);
  await refuses(cfgFiles({ architecture: 'topk' }), /topk SAE without "k"/);
  await refuses(
    saeLensFiles(W, { architecture: 'topk', k: 11 }),
    /topk k is 11 \(cfg.json field "k"\), expected an integer from 1 to d_sae 10/,
  );
  await refuses(saeLensFiles(W, { architecture: 'topk', k: 2.5 }), /topk k is 2.5/);
  const notJson = saeLensFiles(W);
  notJson.set('cfg.json', Buffer.from('{"d_in": 6,'));
  await refuses(notJson, /^sae\/cfg.json: is not valid JSON/);
  await refuses(sparsifyFiles(W, { k: 2, cfg: { signed: true } }), /field "signed" is true, expected false/);
  await refuses(
    sparsifyFiles(W, { k: 2, cfg: { activation: 'groupmax' } }),
    /field "activation" is "groupmax", expected "topk"/,
  );
  await refuses(
    sparsifyFiles(W, { k: 2, cfg: { num_latents: 12 } }),
    /tensor "encoder.bias" has shape \[10\], expected \[12\]/,
  );
});

test('corrupt weight containers are refused, never crash or hang', async () => {
  const files = saeLensFiles(W);
  const weights = files.get('sae_weights.safetensors')!;
  for (const [bytes, pattern] of [
    [weights.subarray(0, 4), /is truncated: 4 bytes/],
    [weights.subarray(0, 30), /header length \d+ runs past the end of the file \(30 bytes\)/],
    [weights.subarray(0, weights.byteLength - 1), /past the end of the data/],
  ] as const) {
    const broken = new Map(files);
    broken.set('sae_weights.safetensors', bytes);
    await refuses(broken, pattern);
  }
  const npz = gemmaScopeNpz(W);
  await refuses(
    new Map([['params.npz', npz.subarray(0, npz.byteLength - 30)]]),
    /^sae\/params.npz: is not a zip archive/,
  );
  await refuses(new Map([['params.npz', npz.subarray(100)]]), /params.npz/);
});

test('files that are no SAE, or not the asked-for format, are refused with what was expected', async () => {
  await refuses(
    new Map([['weights.bin', new Uint8Array(4)]]),
    /^sae: has no SAE \(files: weights.bin\), expected cfg.json \+ sae_weights.safetensors \(SAELens\)/,
  );
  await refuses(
    saeLensFiles(W),
    /^sae: has no sae.safetensors, expected cfg.json \+ sae.safetensors for format sparsify$/,
    'sparsify',
  );
});

test('W_dec is never read: only headers and the tensors encoding needs', async () => {
  const big = syntheticSaeWeights(32, 256, 8);
  const wDecBytes = 32 * 256 * 4;
  const count = async (files: Map<string, Uint8Array>) => {
    let read = 0;
    let total = 0;
    const sources = new Map<string, ByteSource>();
    for (const [name, bytes] of files) {
      const inner = memorySource(name, bytes);
      total += bytes.byteLength;
      sources.set(name, {
        ...inner,
        read: (offset, length) => ((read += length), inner.read(offset, length)),
      });
    }
    const sae = await loadSaeFromSources(sources);
    return { sae, read, total };
  };
  for (const files of [
    saeLensFiles(big),
    sparsifyFiles(big, { k: 4 }),
    new Map([['params.npz', gemmaScopeNpz(big)]]),
  ]) {
    const { sae, read, total } = await count(files);
    assert.ok(read < total - wDecBytes + 4096, `${sae.format}: read ${read} of ${total} bytes`);
    assert.equal(sae.dSae, 256);
  }
});
