import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SaeFormatError } from '../errors.js';
import { memorySource } from './byte-source.js';
import { toFloat32 } from './dtype.js';
import { openNpz, writeNpz } from './npz.js';

// What numpy 2.4 wrote for np.savez(f, a=np.array([1.5, -2], np.float32)): ZIP64 extras in the local
// header, sizes in the central directory.
const NUMPY_SAVEZ = Buffer.from(
  '504b03042d000000000000002100d6434b05ffffffffffffffff05001400612e6e70790100100088000000000000008800000000000000' +
    '934e554d5059010076007b276465736372273a20273c6634272c2027666f727472616e5f6f72646572273a2046616c73652c202773686170' +
    '65273a2028322c292c207d' +
    '20'.repeat(60) +
    '0a0000c03f000000c0504b01022d032d000000000000002100d6434b05880000008800000005000000000000000000000080010000000061' +
    '2e6e7079504b0506000000000100010033000000bf0000000000',
  'hex',
);

test('reads what numpy.savez writes, and writes the same bytes', async () => {
  const npz = await openNpz(memorySource('params.npz', NUMPY_SAVEZ));
  assert.deepEqual(npz.names, ['a']);
  const a = await npz.read('a');
  assert.deepEqual(a.shape, [2]);
  assert.deepEqual([...toFloat32(a.bytes, a.dtype)], [1.5, -2]);
  assert.deepEqual(writeNpz({ a: { dtype: 'F32', shape: [2], data: [1.5, -2] } }), NUMPY_SAVEZ);
});

test('finds the end record behind an archive comment', async () => {
  const comment = Buffer.from('written by hand, with a comment longer than the usual tail');
  const withComment = Buffer.concat([NUMPY_SAVEZ, comment]);
  withComment.writeUInt16LE(comment.byteLength, NUMPY_SAVEZ.byteLength - 2);
  const npz = await openNpz(memorySource('c.npz', withComment));
  assert.deepEqual([...toFloat32((await npz.read('a')).bytes, 'F32')], [1.5, -2]);
});

test('reads deflated entries (numpy.savez_compressed)', async () => {
  const bytes = writeNpz(
    { x: { dtype: 'F16', shape: [2, 2], data: [1, 2, 3, 4] }, y: { dtype: 'F32', shape: [1], data: [9] } },
    true,
  );
  const npz = await openNpz(memorySource('c.npz', bytes));
  const x = await npz.read('x');
  assert.deepEqual([...toFloat32(x.bytes, x.dtype)], [1, 2, 3, 4]);
  assert.deepEqual([...toFloat32((await npz.read('y')).bytes, 'F32')], [9]);
});

async function rejects(bytes: Uint8Array, pattern: RegExp): Promise<void> {
  await assert.rejects(
    async () => {
      const npz = await openNpz(memorySource('p.npz', bytes));
      for (const n of npz.names) await npz.read(n);
    },
    (err: unknown) =>
      err instanceof SaeFormatError && err.message.startsWith('p.npz: ') && pattern.test(err.message),
    String(pattern),
  );
}

test('rejects truncated, corrupt and foreign archives', async () => {
  await rejects(NUMPY_SAVEZ.subarray(0, 100), /no end of central directory record/);
  await rejects(NUMPY_SAVEZ.subarray(0, 10), /too short/);
  const flipped = Buffer.from(NUMPY_SAVEZ);
  flipped[185] ^= 0xff; // a data byte (data starts at 30 + 5 + 20 + 128)
  await rejects(flipped, /entry "a.npy" fails its CRC-32 check/);
  const method = Buffer.from(NUMPY_SAVEZ);
  method.writeUInt16LE(12, 0xbf + 10); // central directory: bzip2
  await rejects(method, /uses compression method 12/);
  const cdPastEnd = Buffer.from(NUMPY_SAVEZ);
  cdPastEnd.writeUInt32LE(0xbf0, cdPastEnd.byteLength - 6);
  await rejects(cdPastEnd, /central directory past the end of the file/);
  const entryPastEnd = Buffer.from(NUMPY_SAVEZ);
  entryPastEnd.writeUInt32LE(0x880, 0xbf + 20); // compressed size
  entryPastEnd.writeUInt32LE(0x880, 0xbf + 24);
  await rejects(entryPastEnd, /entry "a.npy" runs past the end of the file/);
  const notNpy = Buffer.from(NUMPY_SAVEZ.toString('latin1').replaceAll('a.npy', 'a.txt'), 'latin1');
  await rejects(notNpy, /has entry "a.txt", expected only .npy arrays/);
});
