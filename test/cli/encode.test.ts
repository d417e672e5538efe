import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  cpuEncodeStats,
  loadSae,
  parseActivations,
  parseSafetensors,
  syntheticSaeWeights,
  tensorToFloat32,
  writeGemmaScopeNpz,
  writeNpy,
  writeSaeLensFolder,
  writeSafetensors,
} from '../../libs/sae/src/index.js';

// The compiled CLI, run as a child process the way a user runs it, on files written in the real formats.
const CLI = fileURLToPath(new URL('../../apps/cli/src/main.js', import.meta.url));

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function sentinel(...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

let dir: string;
let saeDir: string;
let actsPath: string;
const W = syntheticSaeWeights(12, 30, 21);
const nTokens = 9;
const data = Float32Array.from({ length: nTokens * 12 }, (_, i) => Math.cos(i * 0.37) * 2);

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sentinel-cli-'));
  saeDir = await writeSaeLensFolder(join(dir, 'sae'), W, { architecture: 'topk', k: 6, dtype: 'F16' });
  actsPath = join(dir, 'acts.safetensors');
  await writeFile(
    actsPath,
    writeSafetensors({
      activations: { dtype: 'BF16', shape: [nTokens, 12], data },
      prompt_offsets: { dtype: 'I64', shape: [4], data: [0, 4, 4, 9] },
    }),
  );
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('encode prints backend, adapter, nTokens, dSae, the asked latents and the top latents', async () => {
  const out = join(dir, 'stats.safetensors');
  const run = await sentinel(
    'encode',
    '--sae',
    saeDir,
    '--activations',
    actsPath,
    '--backend',
    'cpu',
    '--latents',
    '3,0,29',
    '--top',
    '5',
    '--out',
    out,
  );
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.stderr, '');
  const json = JSON.parse(run.stdout);
  assert.deepEqual(
    [json.backend, json.adapter, json.nTokens, json.dSae, json.nPrompts, json.format, json.architecture],
    ['cpu', 'cpu', nTokens, 30, 3, 'saelens', 'topk'],
  );
  const expected = cpuEncodeStats(await loadSae(saeDir), parseActivations(await readFile(actsPath), 'acts'));
  assert.deepEqual(
    json.latents,
    [3, 0, 29].map((index) => ({
      index,
      mean: expected.mean[index],
      fracActive: expected.fracActive[index],
      max: expected.max[index],
    })),
  );
  assert.equal(json.top.length, 5);
  const means = json.top.map((t: { mean: number }) => t.mean);
  assert.deepEqual(
    means,
    [...means].sort((a, b) => b - a),
    'top is sorted by mean, largest first',
  );
  assert.equal(json.top[0].mean, Math.max(...expected.mean));
  for (const t of json.top) assert.equal(t.mean, expected.mean[t.index]);

  const file = parseSafetensors(await readFile(out), out);
  assert.deepEqual([...file.tensors.keys()].sort(), ['frac_active', 'max', 'mean', 'prompt_mean']);
  for (const [name, values] of [
    ['mean', expected.mean],
    ['frac_active', expected.fracActive],
    ['max', expected.max],
  ] as const) {
    const t = file.tensors.get(name)!;
    assert.deepEqual([t.dtype, t.shape], ['F32', [30]]);
    assert.deepEqual(tensorToFloat32(t, out), values);
  }
  const pm = file.tensors.get('prompt_mean')!;
  assert.deepEqual(pm.shape, [3, 30]);
  assert.deepEqual(tensorToFloat32(pm, out), expected.promptMean);
});

test('encode reads a Gemma Scope params.npz and a plain .npy; no prompts means no prompt_mean', async () => {
  const gemma = await writeGemmaScopeNpz(join(dir, 'gemma'), W);
  const npy = join(dir, 'acts.npy');
  await writeFile(npy, writeNpy({ dtype: 'F32', shape: [nTokens, 12], data }));
  const out = join(dir, 'gemma-stats.safetensors');
  const run = await sentinel(
    'encode',
    '--sae',
    join(gemma, 'params.npz'),
    '--activations',
    npy,
    '--backend',
    'cpu',
    '--out',
    out,
  );
  assert.equal(run.code, 0, run.stderr);
  const json = JSON.parse(run.stdout);
  assert.deepEqual(
    [json.format, json.architecture, json.nPrompts, json.latents, json.top.length],
    ['gemma-scope', 'jumprelu', 0, [], 20],
  );
  assert.deepEqual([...parseSafetensors(await readFile(out), out).tensors.keys()].sort(), [
    'frac_active',
    'max',
    'mean',
  ]);
});

test('bad input exits non-zero with exactly one line on stderr and nothing on stdout', async () => {
  const badSae = join(dir, 'bad-sae');
  const wrong = writeSafetensors({
    W_enc: { dtype: 'F32', shape: [30, 12], data: W.wEnc },
    b_enc: { dtype: 'F32', shape: [30], data: W.bEnc },
    W_dec: { dtype: 'F32', shape: [30, 12], data: W.wEnc },
    b_dec: { dtype: 'F32', shape: [12], data: W.bDec },
  });
  await writeSaeLensFolder(badSae, W);
  await writeFile(join(badSae, 'sae_weights.safetensors'), wrong);
  const nanActs = join(dir, 'nan.safetensors');
  const nanData = Float32Array.from(data);
  nanData[5 * 12 + 7] = NaN;
  await writeFile(
    nanActs,
    writeSafetensors({ activations: { dtype: 'F32', shape: [nTokens, 12], data: nanData } }),
  );
  const narrow = join(dir, 'narrow.npy');
  await writeFile(narrow, writeNpy({ dtype: 'F32', shape: [2, 5], data: new Float32Array(10) }));
  const truncated = join(dir, 'truncated.safetensors');
  await writeFile(truncated, (await readFile(actsPath)).subarray(0, 40));

  const cases: [string[], number, RegExp][] = [
    [[], 2, /^$/],
    [['frobnicate'], 2, /^sentinel: unknown command "frobnicate" \(commands: encode/],
    [
      ['encode', '--activations', actsPath],
      2,
      /^sentinel encode: --sae is required \(see sentinel encode --help\)$/,
    ],
    [['encode', '--sae', saeDir, '--activations', actsPath, '--bogus'], 2, /Unknown option '--bogus'/],
    [
      ['encode', '--sae', saeDir, '--activations', actsPath, '--backend', 'tpu'],
      2,
      /--backend "tpu" is not one of auto, webgpu, cpu/,
    ],
    [
      ['encode', '--sae', saeDir, '--activations', actsPath, '--top', 'many'],
      2,
      /--top "many" is not a non-negative integer/,
    ],
    [
      ['encode', '--sae', saeDir, '--activations', actsPath, '--latents', '1,x'],
      2,
      /--latents: "x" is not a latent index/,
    ],
    [
      ['encode', '--sae', saeDir, '--activations', actsPath, '--latents', '30'],
      2,
      /latent 30 is out of range \(the SAE has d_sae 30\)/,
    ],
    [
      ['encode', '--sae', badSae, '--activations', actsPath, '--backend', 'cpu'],
      1,
      /^sentinel encode: .*bad-sae\/sae_weights.safetensors: tensor "W_enc" has shape \[30, 12\], expected \[12, 30\] \(d_in × d_sae: d_in from cfg.json, d_sae from cfg.json\)$/,
    ],
    [
      ['encode', '--sae', saeDir, '--activations', nanActs, '--backend', 'cpu'],
      1,
      /nan.safetensors: tensor "activations" has NaN at token 5 \(element \[5, 7\]\)/,
    ],
    [
      ['encode', '--sae', saeDir, '--activations', narrow, '--backend', 'cpu'],
      1,
      /activations have d_in 5, the SAE \(.*\) expects d_in 12/,
    ],
    [
      ['encode', '--sae', saeDir, '--activations', truncated, '--backend', 'cpu'],
      1,
      /truncated.safetensors: header length \d+ runs past the end of the file \(40 bytes\)/,
    ],
    [
      ['encode', '--sae', join(dir, 'nowhere'), '--activations', actsPath],
      1,
      /nowhere: cannot be read \(ENOENT\)/,
    ],
    [
      [
        'encode',
        '--sae',
        saeDir,
        '--activations',
        actsPath,
        '--backend',
        'cpu',
        '--out',
        join(dir, 'no/such/dir.st'),
      ],
      1,
      /cannot write --out .* \(ENOENT\)/,
    ],
  ];
  for (const [args, code, pattern] of cases) {
    const run = await sentinel(...args);
    const label = args.join(' ');
    assert.equal(run.code, code, `${label}: exit ${run.code}, stderr ${run.stderr}`);
    if (args.length === 0) {
      assert.match(run.stdout, /^usage: sentinel <command>/, 'no command prints usage');
      continue;
    }
    assert.equal(run.stdout, '', label);
    assert.match(run.stderr, /^[^\n]*\n$/, `${label}: one line on stderr, got ${JSON.stringify(run.stderr)}`);
    assert.match(run.stderr.trimEnd(), pattern, label);
  }
});
