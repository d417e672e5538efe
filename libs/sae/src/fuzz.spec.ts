// Property-based fuzzing (fast-check) of every parser an upload or an SAE file goes through: valid files
// are mutated (byte flips, truncation, insertion, header-length edits, JSON header edits of dtype, shape
// and offsets, .npy dict edits, cfg.json edits, edits inside an .npz) and each parser must either return
// a self-consistent result or throw SaeFormatError: never another exception, never a hang.
//
// FUZZ_RUNS (default 10000) cases per target; FUZZ_SEED replays a run (the seed is printed).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { activationsHeaderSize, inspectActivationsHeader, parseActivations } from './activations.js';
import { SaeFormatError } from './errors.js';
import { parseNpy, writeNpy } from './formats/npy.js';
import { memorySource } from './formats/byte-source.js';
import { parseSafetensors, parseSafetensorsHeader, writeSafetensors } from './formats/safetensors.js';
import { readZipDirectory, readZipEntry, writeZip } from './formats/zip.js';
import { loadSaeFromFiles } from './loaders/load-sae.js';
import { gemmaScopeNpz, saeLensFiles, sparsifyFiles, syntheticSaeWeights } from './loaders/writers.js';
import {
  bytesMutation,
  headerLength,
  jsonEdit,
  jsonValue,
  mutations,
  type Mutation,
  npyEdit,
  npyLength,
} from '../../../test/support/mutations.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 10_000);
const SEED = process.env.FUZZ_SEED === undefined ? Date.now() % 2 ** 31 : Number(process.env.FUZZ_SEED);
console.log(`fuzz: ${RUNS} cases per target, seed ${SEED} (replay: FUZZ_SEED=${SEED})`);
const params = { numRuns: RUNS, seed: SEED, endOnFailure: true };

/** Runs `fn`; a SaeFormatError is a clean refusal, anything else a failure of the property. */
function refusedCleanly(err: unknown): boolean {
  if (err instanceof SaeFormatError) return true;
  throw new Error(`not a SaeFormatError: ${(err as Error)?.stack ?? String(err)}`);
}

// ---- base files -----------------------------------------------------------------------------------
function values(n: number, seed: number): Float32Array {
  let s = seed;
  return Float32Array.from(
    { length: n },
    () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32) * 4 - 2,
  );
}
const N_TOKENS = 12;
const D_IN = 8;
const safetensorsBases = [
  writeSafetensors({
    activations: { dtype: 'F32', shape: [N_TOKENS, D_IN], data: values(N_TOKENS * D_IN, 1) },
    prompt_offsets: { dtype: 'I32', shape: [4], data: [0, 4, 8, 12] },
  }),
  writeSafetensors({
    activations: { dtype: 'F16', shape: [N_TOKENS, D_IN], data: values(N_TOKENS * D_IN, 2) },
  }),
  writeSafetensors(
    {
      activations: { dtype: 'BF16', shape: [N_TOKENS, D_IN], data: values(N_TOKENS * D_IN, 3) },
      prompt_offsets: { dtype: 'I64', shape: [3], data: [0, 5, 12] },
    },
    { format: 'pt' },
  ),
];
const npyBases = [
  writeNpy({ dtype: 'F32', shape: [N_TOKENS, D_IN], data: values(N_TOKENS * D_IN, 4) }),
  writeNpy({ dtype: 'F16', shape: [N_TOKENS, D_IN], data: values(N_TOKENS * D_IN, 5) }),
];

function checkActivations(bytes: Buffer): void {
  try {
    const a = parseActivations(bytes, 'fuzz');
    assert.equal(a.data.length, a.nTokens * a.dIn);
    assert.ok(a.nTokens >= 1 && a.dIn >= 1);
    for (const v of a.data) assert.ok(Number.isFinite(v));
    if (a.promptOffsets) {
      assert.equal(a.promptOffsets[0], 0);
      assert.equal(a.promptOffsets[a.promptOffsets.length - 1], a.nTokens);
    }
  } catch (err) {
    refusedCleanly(err);
  }
}

test('parseActivations: mutated safetensors and .npy files parse or throw SaeFormatError', () => {
  fc.assert(
    fc.property(
      fc.oneof(
        fc.tuple(fc.constantFrom(...safetensorsBases), mutations(bytesMutation, headerLength, jsonEdit)),
        fc.tuple(fc.constantFrom(...npyBases), mutations(bytesMutation, npyEdit, npyLength)),
      ),
      ([base, mutate]) => checkActivations(mutate(base)),
    ),
    params,
  );
});

test('inspectActivationsHeader: mutated headers (as an upload streams them) are judged or refused cleanly', () => {
  fc.assert(
    fc.property(
      fc.oneof(
        fc.tuple(fc.constantFrom(...safetensorsBases), mutations(bytesMutation, headerLength, jsonEdit)),
        fc.tuple(fc.constantFrom(...npyBases), mutations(bytesMutation, npyEdit, npyLength)),
      ),
      fc.nat(),
      ([base, mutate], cut) => {
        const bytes = mutate(base);
        // The prefix the upload check has when it first asks, then the header once it is all there.
        const prefix = bytes.subarray(0, cut % (bytes.length + 1));
        try {
          const need = activationsHeaderSize(prefix, 'fuzz');
          if (need === null) return;
          assert.ok(Number.isSafeInteger(need) && need > 0);
          if (bytes.length < need) return;
          const info = inspectActivationsHeader(bytes.subarray(0, need), 'fuzz');
          assert.equal(info.totalLength, info.headerLength + info.dataLength);
          assert.ok(info.nTokens >= 1 && info.dIn >= 1);
          assert.ok(Number.isFinite(info.totalLength));
        } catch (err) {
          refusedCleanly(err);
        }
      },
    ),
    params,
  );
});

test('parseSafetensors / parseSafetensorsHeader: tensors lie inside the file or the file is refused', () => {
  fc.assert(
    fc.property(
      fc.constantFrom(...safetensorsBases),
      mutations(bytesMutation, headerLength, jsonEdit),
      (base, mutate) => {
        const bytes = mutate(base);
        try {
          const header = parseSafetensorsHeader(bytes, 'fuzz');
          assert.ok(header.dataStart + header.dataLength <= bytes.length);
          const file = parseSafetensors(bytes, 'fuzz');
          for (const t of file.tensors.values()) {
            assert.ok(t.bytes.byteOffset + t.bytes.byteLength <= bytes.byteOffset + bytes.byteLength);
          }
        } catch (err) {
          refusedCleanly(err);
        }
      },
    ),
    params,
  );
});

test('parseNpy: mutated .npy arrays parse to exactly their data or throw SaeFormatError', () => {
  fc.assert(
    fc.property(
      fc.constantFrom(...npyBases),
      mutations(bytesMutation, npyEdit, npyLength),
      (base, mutate) => {
        const bytes = mutate(base);
        try {
          const a = parseNpy(bytes, 'fuzz');
          const elements = a.shape.reduce((x, y) => x * y, 1);
          assert.equal(a.bytes.byteLength, elements * (a.dtype === 'F32' ? 4 : 2));
        } catch (err) {
          refusedCleanly(err);
        }
      },
    ),
    params,
  );
});

// ---- SAE loaders --------------------------------------------------------------------------------
const weights = syntheticSaeWeights(D_IN, 16, 9);
const saeBases: { format: 'saelens' | 'sparsify' | 'gemma-scope'; files: Map<string, Buffer> }[] = [
  { format: 'saelens', files: saeLensFiles(weights, { architecture: 'jumprelu' }) },
  { format: 'saelens', files: saeLensFiles(weights, { architecture: 'topk', k: 4, dtype: 'BF16' }) },
  { format: 'sparsify', files: sparsifyFiles(weights, { k: 4 }) },
  { format: 'gemma-scope', files: new Map([['params.npz', gemmaScopeNpz(weights)]]) },
  { format: 'gemma-scope', files: new Map([['params.npz', gemmaScopeNpz(weights, { compress: true })]]) },
];

/** cfg.json edits: a field set to any JSON value or removed, or the whole file replaced. */
const cfgEdit: fc.Arbitrary<Mutation> = fc
  .tuple(fc.nat(), jsonValue, fc.constantFrom('set', 'delete', 'whole'))
  .map(([pick, value, kind]) => (b) => {
    const cfg = JSON.parse(b.toString('utf8')) as Record<string, unknown>;
    const keys = Object.keys(cfg);
    const key = keys[pick % keys.length];
    if (kind === 'set') cfg[key] = value;
    else if (kind === 'delete') delete cfg[key];
    return Buffer.from(JSON.stringify(kind === 'whole' ? value : cfg) ?? '', 'utf8');
  });

/** Rewrites one .npy inside the .npz (stored) with a mutation, keeping the zip itself valid. */
function insideNpz(mutation: fc.Arbitrary<Mutation>): fc.Arbitrary<(b: Buffer) => Promise<Buffer>> {
  return fc.tuple(fc.nat(), mutation).map(([pick, mutate]) => async (b) => {
    const src = memorySource('npz', b);
    const entries = await readZipDirectory(src);
    const files = await Promise.all(
      entries.map(async (e) => ({ name: e.name, data: await readZipEntry(src, e) })),
    );
    const i = pick % files.length;
    files[i] = { name: files[i].name, data: mutate(Buffer.from(files[i].data)) };
    return writeZip(files, pick % 2 === 1);
  });
}

test('loadSaeFromFiles: mutated SAELens, sparsify and Gemma Scope files load or throw SaeFormatError', async () => {
  const fileMutation = fc.oneof(
    {
      weight: 3,
      arbitrary: mutations(bytesMutation, headerLength, jsonEdit).map((m) => async (b: Buffer) => m(b)),
    },
    { weight: 2, arbitrary: insideNpz(mutations(bytesMutation, npyEdit, npyLength)) },
  );
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom(...saeBases),
      fc.nat(),
      fileMutation,
      cfgEdit,
      fc.boolean(),
      fc.boolean(),
      async (base, pick, mutateFile, mutateCfg, editCfg, wrongFormat) => {
        const files = new Map(base.files);
        const names = [...files.keys()].filter((n) => n !== 'cfg.json');
        const name = names[pick % names.length];
        if (editCfg && files.has('cfg.json')) files.set('cfg.json', mutateCfg(files.get('cfg.json')!));
        else {
          const bytes = files.get(name)!;
          // Only the npz mutation knows zip; on a safetensors file it falls back to bytes.
          files.set(name, await mutateFile(bytes).catch(() => bytes));
        }
        const format = wrongFormat
          ? (['saelens', 'sparsify', 'gemma-scope'] as const)[pick % 3]
          : base.format;
        try {
          const sae = await loadSaeFromFiles(files, format, 'fuzz');
          assert.ok(sae.dIn >= 1 && sae.dSae >= 1);
          assert.equal(sae.wEnc.length, sae.dIn * sae.dSae);
        } catch (err) {
          refusedCleanly(err);
        }
      },
    ),
    { ...params, timeout: 5_000 },
  );
});
