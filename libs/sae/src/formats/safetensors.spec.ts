import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SaeFormatError } from '../errors.js';
import { parseSafetensors, safetensorsHeaderSize, tensorToFloat32, writeSafetensors } from './safetensors.js';

/** A file with a hand-written header, to build what no correct writer would. */
function rawFile(header: unknown, data: Uint8Array, declaredLength?: number): Buffer {
  const json = Buffer.from(JSON.stringify(header));
  const out = Buffer.alloc(8 + json.byteLength + data.byteLength);
  out.writeBigUInt64LE(BigInt(declaredLength ?? json.byteLength), 0);
  json.copy(out, 8);
  out.set(data, 8 + json.byteLength);
  return out;
}

function rejects(bytes: Uint8Array, pattern: RegExp): void {
  assert.throws(
    () => parseSafetensors(bytes, 'w.safetensors'),
    (err: unknown) =>
      err instanceof SaeFormatError && err.message.startsWith('w.safetensors: ') && pattern.test(err.message),
  );
}

test('writeSafetensors lays files out like huggingface/safetensors', () => {
  const file = writeSafetensors(
    { b: { dtype: 'F16', shape: [2], data: [1, 2] }, a: { dtype: 'F32', shape: [1, 2], data: [3, 4] } },
    { format: 'pt' },
  );
  const headerLength = Number(file.readBigUInt64LE(0));
  assert.equal((8 + headerLength) % 8, 0, 'data starts 8-byte aligned');
  const json = file.subarray(8, 8 + headerLength).toString('utf8');
  // Metadata first, then larger dtypes first, compact JSON padded with spaces.
  assert.match(
    json,
    /^\{"__metadata__":\{"format":"pt"\},"a":\{"dtype":"F32","shape":\[1,2\],"data_offsets":\[0,8\]\},"b":\{"dtype":"F16","shape":\[2\],"data_offsets":\[8,12\]\}\} *$/,
  );
  const parsed = parseSafetensors(file, 'x');
  assert.deepEqual(parsed.metadata, { format: 'pt' });
  assert.deepEqual([...tensorToFloat32(parsed.tensors.get('a')!, 'x')], [3, 4]);
  assert.deepEqual([...tensorToFloat32(parsed.tensors.get('b')!, 'x')], [1, 2]);
  assert.deepEqual(parsed.tensors.get('a')!.shape, [1, 2]);
});

test('parses I64 and BF16 tensors and empty tensors', () => {
  const file = writeSafetensors({
    o: { dtype: 'I64', shape: [3], data: [0, 2, 5] },
    h: { dtype: 'BF16', shape: [2], data: [-1, 0.5] },
    e: { dtype: 'F32', shape: [0, 4], data: [] },
  });
  const parsed = parseSafetensors(file, 'x');
  const o = parsed.tensors.get('o')!.bytes;
  const view = new DataView(o.buffer, o.byteOffset, o.byteLength);
  assert.deepEqual(
    [0, 1, 2].map((i) => view.getBigInt64(i * 8, true)),
    [0n, 2n, 5n],
  );
  assert.deepEqual([...tensorToFloat32(parsed.tensors.get('h')!, 'x')], [-1, 0.5]);
  assert.equal(parsed.tensors.get('e')!.bytes.byteLength, 0);
});

test('rejects truncated files and header lengths past the end', () => {
  rejects(new Uint8Array(5), /truncated: 5 bytes/);
  const good = writeSafetensors({ a: { dtype: 'F32', shape: [4], data: [1, 2, 3, 4] } });
  rejects(good.subarray(0, 20), /header length \d+ runs past the end of the file \(20 bytes\)/);
  rejects(
    good.subarray(0, good.byteLength - 4),
    /tensor "a" has data_offsets \[0, 16\] past the end of the data \(12 bytes\)/,
  );
  rejects(rawFile({}, new Uint8Array(0), 1e12), /more than the 100000000 bytes allowed/);
  const huge = Buffer.alloc(16);
  huge.writeBigUInt64LE(0xffffffffffffffffn, 0);
  rejects(huge, /header/);
});

test('rejects overlapping, out-of-range and mis-sized offsets', () => {
  const data = new Uint8Array(16);
  rejects(
    rawFile(
      {
        a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
        b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] },
      },
      data,
    ),
    /tensor "b" has data_offsets \[4, 12\] overlapping tensor "a" \[0, 8\]/,
  );
  rejects(
    rawFile(
      {
        a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] },
        empty: { dtype: 'F32', shape: [0], data_offsets: [4, 4] },
        c: { dtype: 'F32', shape: [1], data_offsets: [8, 12] },
      },
      data,
    ),
    /tensor "c" has data_offsets \[8, 12\] overlapping tensor "a" \[0, 16\]/,
  );
  rejects(
    rawFile({ a: { dtype: 'F32', shape: [4], data_offsets: [8, 24] } }, data),
    /past the end of the data \(16 bytes\)/,
  );
  rejects(
    rawFile({ a: { dtype: 'F32', shape: [3], data_offsets: [0, 16] } }, data),
    /tensor "a" has data_offsets \[0, 16\] \(16 bytes\), expected 12 bytes for shape \[3\] of F32/,
  );
  rejects(rawFile({ a: { dtype: 'F32', shape: [2], data_offsets: [8, 0] } }, data), /data_offsets \[8,0\]/);
});

test('rejects bad JSON, unknown dtypes, bad shapes and bad metadata', () => {
  const data = new Uint8Array(8);
  const notJson = Buffer.alloc(8 + 4);
  notJson.writeBigUInt64LE(4n, 0);
  notJson.write('{"a"', 8);
  rejects(notJson, /header is not valid UTF-8 JSON/);
  rejects(rawFile([1, 2], data), /not a JSON object/);
  rejects(
    rawFile({ a: { dtype: 'Q7', shape: [2], data_offsets: [0, 8] } }, data),
    /tensor "a" has unknown dtype "Q7"/,
  );
  rejects(
    rawFile({ a: { dtype: 'F32', shape: [-2], data_offsets: [0, 8] } }, data),
    /tensor "a" has shape \[-2\]/,
  );
  rejects(rawFile({ __metadata__: { n: 3 } }, data), /"__metadata__" field "n" is not a string/);
});

test('tensorToFloat32 names the tensor when its dtype is not a float', () => {
  const file = parseSafetensors(
    writeSafetensors({ idx: { dtype: 'I32', shape: [1], data: [3] } }),
    'w.safetensors',
  );
  assert.throws(
    () => tensorToFloat32(file.tensors.get('idx')!, 'w.safetensors'),
    /^SaeFormatError: w.safetensors: tensor "idx" has dtype I32, expected F32, F16 or BF16$/,
  );
});

test('safetensorsHeaderSize waits for 8 bytes, then reports 8 + header length', () => {
  const file = writeSafetensors({ a: { dtype: 'F32', shape: [1], data: [1] } });
  assert.equal(safetensorsHeaderSize(file.subarray(0, 7), 'x'), null);
  assert.equal(safetensorsHeaderSize(file.subarray(0, 8), 'x'), 8 + Number(file.readBigUInt64LE(0)));
});
