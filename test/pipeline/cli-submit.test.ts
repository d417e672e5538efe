import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { type INestApplication } from '@nestjs/common';
import { testConfig } from '../support/config.js';
import { activationsFile, type Api, createRun, registerSae, startApi, startWorker } from './support.js';

// `sentinel submit` as a training script runs it: a separate process, the file streamed from disk.
const CLI = fileURLToPath(new URL('../../apps/cli/src/main.js', import.meta.url));
const config = testConfig({ ENGINE_BACKEND: 'cpu' });
let api: Api;
let worker: INestApplication;

before(async () => {
  api = await startApi(config);
  worker = await startWorker(config);
});

after(async () => {
  await worker.close();
  await api.app.close();
});

function sentinel(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

test('sentinel submit --wait uploads a checkpoint and prints the finished evaluation', async () => {
  const sae = await registerSae(api, 16, 64, 41);
  const runId = await createRun(api, sae);
  const dir = await mkdtemp(join(tmpdir(), 'sentinel-submit-'));
  const file = join(dir, 'step-5.safetensors');
  await writeFile(file, activationsFile(128, 16, 5));

  const waited = await sentinel([
    'submit',
    '--api',
    api.url,
    '--run',
    runId,
    '--step',
    '5',
    '--activations',
    file,
    '--wait',
  ]);
  assert.equal(waited.code, 0, waited.stderr);
  const evaluation = JSON.parse(waited.stdout) as { status: string; step: number; latents: unknown[] };
  assert.equal(evaluation.status, 'done');
  assert.equal(evaluation.step, 5);
  assert.equal(evaluation.latents.length, 3);

  const again = await sentinel([
    'submit',
    '--api',
    api.url,
    '--run',
    runId,
    '--step',
    '5',
    '--activations',
    file,
  ]);
  assert.equal(again.code, 0, again.stderr);
  assert.equal((JSON.parse(again.stdout) as { status: string }).status, 'done');

  const wrong = join(dir, 'wide.safetensors');
  await writeFile(wrong, activationsFile(8, 32, 6));
  const refused = await sentinel([
    'submit',
    '--api',
    api.url,
    '--run',
    runId,
    '--step',
    '6',
    '--activations',
    wrong,
  ]);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /^sentinel submit: upload of .* failed with 422: .*d_in 32 .*d_in 16/);

  const usage = await sentinel(['submit', '--run', runId, '--activations', file]);
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /--step is required/);
});
