/**
 * NumPy .npy (format versions 1.0, 2.0, 3.0): the magic "\x93NUMPY", a version, a little-endian header
 * length (u16 for 1.0, u32 after), a Python dict literal `{'descr': '<f4', 'fortran_order': False,
 * 'shape': (2, 3), }` padded with spaces and a newline, then the C-order data. Only little-endian f32 and
 * f16 are honoured; anything else is refused with a message saying what was found.
 */
import { SaeFormatError, formatShape } from '../errors.js';
import { fromFloat32, type FloatDtype } from './dtype.js';

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

export type NpyDtype = Extract<FloatDtype, 'F32' | 'F16'>;

export interface NpyArray {
  dtype: NpyDtype;
  shape: number[];
  /** The data: a view into the parsed buffer. */
  bytes: Uint8Array;
}

export interface NpyHeader {
  dtype: NpyDtype;
  shape: number[];
  /** Offset of the first data byte. */
  dataStart: number;
  dataLength: number;
}

export function isNpy(bytes: Uint8Array): boolean {
  return bytes.byteLength >= 6 && MAGIC.every((b, i) => bytes[i] === b);
}

/** Bytes needed to hold the whole header, from the first 12 bytes; null while fewer have arrived. */
export function npyHeaderSize(prefix: Uint8Array, source: string, tensor?: string): number | null {
  if (prefix.byteLength < 10) return null;
  if (!isNpy(prefix))
    throw new SaeFormatError(source, 'is not a .npy array (no \\x93NUMPY magic)', { tensor });
  const major = prefix[6];
  const view = new DataView(prefix.buffer, prefix.byteOffset, prefix.byteLength);
  if (major === 1) return 10 + view.getUint16(8, true);
  if (major === 2 || major === 3) return prefix.byteLength < 12 ? null : 12 + view.getUint32(8, true);
  throw new SaeFormatError(source, `has .npy format version ${major}.${prefix[7]}`, {
    tensor,
    expected: '1.0, 2.0 or 3.0',
  });
}

/** Parses and checks the header; `fileLength` (when the data has not all arrived) bounds the data. */
export function parseNpyHeader(
  bytes: Uint8Array,
  source: string,
  tensor?: string,
  fileLength?: number,
): NpyHeader {
  const total = fileLength ?? bytes.byteLength;
  const bad = (problem: string, expected?: string) =>
    new SaeFormatError(source, problem, { tensor, expected });
  const dataStart = npyHeaderSize(bytes, source, tensor);
  if (dataStart === null || dataStart > bytes.byteLength) {
    throw bad(`is truncated inside its .npy header (${bytes.byteLength} bytes)`);
  }
  const headerStart = bytes[6] === 1 ? 10 : 12;
  const text = new TextDecoder(bytes[6] === 3 ? 'utf-8' : 'latin1').decode(
    bytes.subarray(headerStart, dataStart),
  );
  const descr = /['"]descr['"]\s*:\s*(?:['"]([^'"]*)['"]|(\[))/.exec(text);
  const fortran = /['"]fortran_order['"]\s*:\s*(True|False)/.exec(text);
  const shapeMatch = /['"]shape['"]\s*:\s*\(([^)]*)\)/.exec(text);
  if (!descr || !fortran || !shapeMatch) {
    throw bad(`has a .npy header without descr, fortran_order and shape: ${JSON.stringify(text.trim())}`);
  }
  if (descr[2]) throw bad('has a structured .npy dtype', "a plain '<f4' or '<f2' array");
  const dtype = npyDtype(descr[1], bad);
  if (fortran[1] === 'True') {
    throw bad('is stored in Fortran (column-major) order', 'C order (np.ascontiguousarray before np.save)');
  }
  const parts = shapeMatch[1]
    .split(',')
    .map((s) => s.trim().replace(/L$/, ''))
    .filter((s) => s !== '');
  const shape = parts.map(Number);
  if (!shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw bad(`has .npy shape (${shapeMatch[1]})`);
  const dataLength = shape.reduce((a, b) => a * b, 1) * (dtype === 'F32' ? 4 : 2);
  if (dataStart + dataLength > total) {
    throw bad(
      `is truncated: shape ${formatShape(shape)} of ${descr[1]} needs ${dataLength} data bytes, the file has ${Math.max(0, total - dataStart)}`,
    );
  }
  return { dtype, shape, dataStart, dataLength };
}

function npyDtype(descr: string, bad: (problem: string, expected?: string) => Error): NpyDtype {
  const expected = "'<f4' (float32) or '<f2' (float16)";
  if (descr === '<f4' || descr === '=f4') return 'F32';
  if (descr === '<f2' || descr === '=f2') return 'F16';
  if (descr.startsWith('>')) throw bad(`has big-endian dtype '${descr}'`, expected);
  if (descr.includes('O')) throw bad(`has object dtype '${descr}' (pickled Python objects)`, expected);
  throw bad(`has dtype '${descr}'`, expected);
}

export function parseNpy(bytes: Uint8Array, source: string, tensor?: string): NpyArray {
  const h = parseNpyHeader(bytes, source, tensor);
  return { dtype: h.dtype, shape: h.shape, bytes: bytes.subarray(h.dataStart, h.dataStart + h.dataLength) };
}

/**
 * Writes a .npy exactly as numpy.save does: version 1.0 (2.0 when the header needs more than 65535
 * bytes), keys sorted, the shape as a Python tuple, padded so the data starts 64-byte aligned.
 */
export function writeNpy(array: { dtype: NpyDtype; shape: number[]; data: ArrayLike<number> }): Buffer {
  const elements = array.shape.reduce((a, b) => a * b, 1);
  if (array.data.length !== elements) {
    throw new Error(`writeNpy: ${array.data.length} values for shape ${formatShape(array.shape)}`);
  }
  const shape = array.shape.length === 1 ? `(${array.shape[0]},)` : `(${array.shape.join(', ')})`;
  const descr = array.dtype === 'F32' ? '<f4' : '<f2';
  const dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shape}, }`;
  let prefix = 10;
  let padded = pad(dict, prefix);
  if (padded.length > 0xffff) {
    prefix = 12;
    padded = pad(dict, prefix);
  }
  const header = Buffer.alloc(prefix);
  MAGIC.forEach((b, i) => (header[i] = b));
  header[6] = prefix === 10 ? 1 : 2;
  header[7] = 0;
  if (prefix === 10) header.writeUInt16LE(padded.length, 8);
  else header.writeUInt32LE(padded.length, 8);
  return Buffer.concat([header, Buffer.from(padded, 'latin1'), fromFloat32(array.data, array.dtype)]);
}

function pad(dict: string, prefix: number): string {
  const length = prefix + dict.length + 1;
  return dict + ' '.repeat((64 - (length % 64)) % 64) + '\n';
}
