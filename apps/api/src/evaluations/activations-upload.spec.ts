import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { writeNpy, writeSafetensors } from '../../../../libs/sae/src/index.js';
import { ActivationsUploadCheck, UploadRejectedError } from './activations-upload.js';

const D_IN = 8;

function file(dtype: 'F32' | 'F16' | 'BF16', poison?: { at: number; value: number }): Buffer {
  const data = Float32Array.from({ length: 32 * D_IN }, (_, i) => Math.sin(i));
  if (poison) data[poison.at] = poison.value;
  return writeSafetensors({
    prompt_offsets: { dtype: 'I32', shape: [3], data: [0, 10, 32] },
    activations: { dtype, shape: [32, D_IN], data },
  });
}

/** Feeds the bytes in pieces of `size`, then finishes; returns the error or the result. */
function feed(bytes: Uint8Array, size: number, limitBytes = 1 << 20) {
  const check = new ActivationsUploadCheck({ expectedDIn: D_IN, limitBytes, source: 'upload' });
  try {
    for (let i = 0; i < bytes.length; i += size) check.push(bytes.subarray(i, i + size));
    return check.finish();
  } catch (err) {
    if (err instanceof UploadRejectedError) return err;
    throw err;
  }
}

test('a valid file passes in any chunking, with its sha256 and shape', () => {
  for (const dtype of ['F32', 'F16', 'BF16'] as const) {
    const bytes = file(dtype);
    for (const size of [1, 3, 7, 64, bytes.length]) {
      const result = feed(bytes, size);
      assert.ok(!(result instanceof Error), `${dtype} in ${size}-byte chunks: ${String(result)}`);
      assert.equal(result.sha256, createHash('sha256').update(bytes).digest('hex'));
      assert.deepEqual(
        [result.nTokens, result.dIn, result.nPrompts, result.sizeBytes],
        [32, D_IN, 2, bytes.length],
      );
    }
  }
});

test('the first NaN or ±Inf is named by token, whatever the chunking and dtype', () => {
  for (const dtype of ['F32', 'F16', 'BF16'] as const) {
    for (const [value, name] of [
      [NaN, 'NaN'],
      [Infinity, 'Infinity'],
      [-Infinity, '-Infinity'],
    ] as const) {
      for (const size of [1, 5, 4096]) {
        const err = feed(file(dtype, { at: 21 * D_IN + 6, value }), size);
        assert.ok(err instanceof UploadRejectedError, `${dtype} ${name} ${size}`);
        assert.equal(err.status, 400);
        assert.match(err.message, new RegExp(`has ${name} at token 21 \\(element \\[21, 6\\]\\)`));
      }
    }
  }
});

test('a .npy upload is checked the same way', () => {
  const data = Float32Array.from({ length: 4 * D_IN }, (_, i) => i);
  data[3 * D_IN + 1] = NaN;
  const err = feed(writeNpy({ dtype: 'F32', shape: [4, D_IN], data }), 3);
  assert.ok(err instanceof UploadRejectedError);
  assert.match(err.message, /NaN at token 3 \(element \[3, 1\]\)/);
});

test('size: over the limit (413), truncated, trailing bytes, not a header at all', () => {
  const bytes = file('F32');
  const over = feed(bytes, 100, 1024);
  assert.ok(over instanceof UploadRejectedError);
  assert.equal(over.status, 413);
  const truncated = feed(bytes.subarray(0, bytes.length - 1), 100);
  assert.ok(truncated instanceof UploadRejectedError);
  assert.match(truncated.message, /truncated, \d+ bytes received but the header describes \d+ bytes/);
  const trailing = feed(Buffer.concat([bytes, Buffer.from('xx')]), 100);
  assert.ok(trailing instanceof UploadRejectedError);
  assert.match(trailing.message, /after the end of the tensor data/);
  const short = feed(Buffer.from('tiny'), 1);
  assert.ok(short instanceof UploadRejectedError);
  assert.match(short.message, /before the end of its header/);
});

test('wrong d_in is 422 and names both widths', () => {
  const check = new ActivationsUploadCheck({ expectedDIn: 16, limitBytes: 1 << 20, source: 'upload' });
  assert.throws(
    () => check.push(file('F32')),
    (err: UploadRejectedError) =>
      err.status === 422 && /d_in 8 but the run's SAE encodes d_in 16/.test(err.message),
  );
});

test('prompt_offsets are checked as they stream, in any chunking', () => {
  const data = Float32Array.from({ length: 32 * D_IN }, (_, i) => Math.cos(i));
  for (const [offsets, index] of [
    [[0, 20, 10, 32], 2],
    [[1, 10, 32], 0],
    [[0, 10, 31], 2],
    [[0, 40, 32], 1],
  ] as const) {
    for (const dtype of ['I32', 'I64'] as const) {
      const bytes = writeSafetensors({
        prompt_offsets: { dtype, shape: [offsets.length], data: [...offsets] },
        activations: { dtype: 'F32', shape: [32, D_IN], data },
      });
      for (const size of [1, 3, 5, 64, bytes.length]) {
        const result = feed(bytes, size);
        assert.ok(result instanceof UploadRejectedError, `${offsets} ${dtype} in ${size}-byte chunks`);
        assert.equal(result.status, 400);
        assert.match(result.message, new RegExp(`"prompt_offsets" has -?\\d+ at index ${index},`));
      }
    }
  }
});

test('a header declaring a huge prompt_offsets allocates nothing for it before its bytes arrive', () => {
  // 150M I64 offsets (1.2 GB) after 1 KiB of activations: within a 2 GiB upload limit.
  const n = 150_000_000;
  const json = Buffer.from(
    JSON.stringify({
      activations: { dtype: 'F32', shape: [32, D_IN], data_offsets: [0, 32 * D_IN * 4] },
      prompt_offsets: { dtype: 'I64', shape: [n], data_offsets: [32 * D_IN * 4, 32 * D_IN * 4 + 8 * n] },
    }),
  );
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(json.length));
  const check = new ActivationsUploadCheck({
    expectedDIn: D_IN,
    limitBytes: 2 * 1024 ** 3,
    source: 'upload',
  });
  const before = process.memoryUsage().arrayBuffers;
  check.push(Buffer.concat([length, json]));
  assert.equal(check.info?.nPrompts, n - 1);
  assert.ok(process.memoryUsage().arrayBuffers - before < 64 * 2 ** 20, 'allocated the declared tensor');
});

test('a header far larger than an activations file needs is refused before it is buffered', () => {
  const prefix = Buffer.alloc(16, 0x20);
  prefix.writeBigUInt64LE(50_000_000n, 0);
  const check = new ActivationsUploadCheck({ expectedDIn: D_IN, limitBytes: 2 ** 31, source: 'upload' });
  assert.throws(
    () => check.push(prefix),
    (err: UploadRejectedError) => err.status === 400 && /declares a 50000008-byte header/.test(err.message),
  );
});
