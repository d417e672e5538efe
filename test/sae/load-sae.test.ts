import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import {
  SaeFormatError,
  loadSae,
  syntheticSaeWeights,
  writeGemmaScopeNpz,
  writeSaeLensFolder,
  writeSparsifyFolder,
} from '../../libs/sae/src/index.js';

// loadSae on real folders: format detection from file names, file paths inside a folder, and the
// messages for paths that hold no SAE.
let dir: string;
const W = syntheticSaeWeights(8, 16, 5);

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sentinel-load-sae-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const rejectsWith = (promise: Promise<unknown>, pattern: RegExp) =>
  assert.rejects(
    promise,
    (err: unknown) => err instanceof SaeFormatError && pattern.test(err.message),
    String(pattern),
  );

test('detects each format from its folder, and loads from one of its files', async () => {
  const saelens = await writeSaeLensFolder(join(dir, 'saelens'), W, {
    architecture: 'jumprelu',
    dtype: 'BF16',
  });
  const sparsify = await writeSparsifyFolder(join(dir, 'sparsify'), W, { k: 4, dtype: 'F16' });
  const gemma = await writeGemmaScopeNpz(join(dir, 'gemma'), W);
  const a = await loadSae(saelens);
  assert.deepEqual(
    [a.format, a.architecture, a.sourceDtype, a.source],
    ['saelens', 'jumprelu', 'BF16', saelens],
  );
  const b = await loadSae(sparsify);
  assert.deepEqual([b.format, b.k, b.dSae, b.dIn], ['sparsify', 4, 16, 8]);
  const c = await loadSae(gemma);
  assert.equal(c.format, 'gemma-scope');
  assert.deepEqual([...c.wEnc], [...W.wEnc], 'F32 weights read exactly');
  assert.equal((await loadSae(join(saelens, 'sae_weights.safetensors'))).format, 'saelens');
  assert.equal((await loadSae(join(sparsify, 'cfg.json'))).format, 'sparsify');
  assert.equal((await loadSae(join(gemma, 'params.npz'))).format, 'gemma-scope');
  // A Gemma Scope file under another name is still an .npz of the right arrays.
  await writeFile(join(dir, 'layer_20.npz'), await readFile(join(gemma, 'params.npz')));
  assert.equal((await loadSae(join(dir, 'layer_20.npz'))).format, 'gemma-scope');
});

test('a sparsify run folder with one SAE per hookpoint points at its subfolders', async () => {
  const run = join(dir, 'run');
  await writeSparsifyFolder(join(run, 'layers.3'), W, { k: 2 });
  await writeSparsifyFolder(join(run, 'layers.5'), W, { k: 2 });
  await rejectsWith(
    loadSae(run),
    /run: holds 2 SAEs in subfolders \(layers.3, layers.5\), expected the path of one of them/,
  );
  assert.equal((await loadSae(join(run, 'layers.5'))).format, 'sparsify');
});

test('paths that hold no SAE are refused with what was found and what is expected', async () => {
  const empty = join(dir, 'empty');
  await mkdir(empty);
  await rejectsWith(
    loadSae(empty),
    /empty: has no SAE \(files: none\), expected cfg.json \+ sae_weights.safetensors \(SAELens\)/,
  );
  await writeFile(join(empty, 'cfg.json'), '{}');
  await rejectsWith(loadSae(empty), /has no SAE \(files: cfg.json\)/);
  await rejectsWith(loadSae(join(dir, 'missing')), /missing: cannot be read \(ENOENT\)/);
  await writeFile(join(dir, 'weights.pt'), 'x');
  await rejectsWith(loadSae(join(dir, 'weights.pt')), /weights.pt: is not an SAE file/);
  await rejectsWith(
    loadSae(empty, 'saelens'),
    /empty: has no sae_weights.safetensors, expected cfg.json \+ sae_weights.safetensors for format saelens/,
  );
});
