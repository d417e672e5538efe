import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SaeFormatError } from '../errors.js';
import { toFloat32 } from './dtype.js';
import { parseNpy, writeNpy } from './npy.js';

/** A .npy with a hand-written header dict (numpy's layout: v1.0, padded to 64 bytes). */
function npyWithHeader(dict: string, data: Uint8Array, version = 1): Buffer {
  const prefix = version === 1 ? 10 : 12;
  const padded = dict + ' '.repeat((64 - ((prefix + dict.length + 1) % 64)) % 64) + '\n';
  const head = Buffer.alloc(prefix);
  Buffer.from('\x93NUMPY', 'latin1').copy(head);
  head[6] = version;
  if (version === 1) head.writeUInt16LE(padded.length, 8);
  else head.writeUInt32LE(padded.length, 8);
  return Buffer.concat([head, Buffer.from(padded, 'latin1'), data]);
}

test('writeNpy writes what numpy.save writes', () => {
  const file = writeNpy({ dtype: 'F32', shape: [2, 3], data: [1, 2, 3, 4, 5, 6] });
  // Bytes numpy 2.4 wrote for np.save(f, np.arange(1, 7, dtype=np.float32).reshape(2, 3)).
  const expectedHeader =
    "\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }" +
    ' '.repeat(58) +
    '\n';
  assert.equal(file.subarray(0, 128).toString('latin1'), expectedHeader);
  const parsed = parseNpy(file, 'a.npy');
  assert.deepEqual(parsed.shape, [2, 3]);
  assert.deepEqual([...toFloat32(parsed.bytes, parsed.dtype)], [1, 2, 3, 4, 5, 6]);
  const vec = parseNpy(writeNpy({ dtype: 'F16', shape: [3], data: [1, 0.5, -2] }), 'b.npy');
  assert.deepEqual(vec.shape, [3]);
  assert.deepEqual([...toFloat32(vec.bytes, vec.dtype)], [1, 0.5, -2]);
});

test('reads format versions 2.0 and 3.0', () => {
  const data = new Uint8Array(new Float32Array([7, 8]).buffer);
  for (const v of [2, 3]) {
    const parsed = parseNpy(
      npyWithHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", data, v),
      'v.npy',
    );
    assert.deepEqual([...toFloat32(parsed.bytes, parsed.dtype)], [7, 8]);
  }
});

test('refuses what it cannot honour, naming file and tensor', () => {
  const data = new Uint8Array(16);
  const cases: [Buffer, RegExp][] = [
    [
      npyWithHeader("{'descr': '>f4', 'fortran_order': False, 'shape': (4,), }", data),
      /big-endian dtype '>f4'/,
    ],
    [
      npyWithHeader("{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", data),
      /dtype '<f8', expected '<f4'/,
    ],
    [npyWithHeader("{'descr': '|O', 'fortran_order': False, 'shape': (2,), }", data), /object dtype/],
    [npyWithHeader("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }", data), /structured/],
    [npyWithHeader("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", data), /Fortran/],
    [
      npyWithHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (5,), }", data),
      /truncated: shape \[5\] of <f4 needs 20/,
    ],
    [npyWithHeader("{'descr': '<f4'}", data), /without descr, fortran_order and shape/],
    [Buffer.from('\x93NUMPY\x01\x00\xff\x00{', 'latin1'), /truncated inside its .npy header/],
    [Buffer.from('\x93NUMPY\x09\x00\x00\x00\x00\x00', 'latin1'), /format version 9.0/],
  ];
  for (const [bytes, pattern] of cases) {
    assert.throws(
      () => parseNpy(bytes, 'params.npz', 'W_enc'),
      (err: unknown) =>
        err instanceof SaeFormatError &&
        err.message.startsWith('params.npz: tensor "W_enc" ') &&
        pattern.test(err.message),
      String(pattern),
    );
  }
});
