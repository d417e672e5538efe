/**
 * safetensors (huggingface/safetensors): an 8-byte little-endian header length N, N bytes of JSON
 * `{"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__"?: {string: string}}`, then the
 * tensor bytes, offsets relative to the end of the header. Parsing never copies tensor data: tensors are
 * views into the caller's buffer.
 */
import { SaeFormatError, formatShape } from '../errors.js';
import { SAFETENSORS_DTYPE_BYTES, fromFloat32, toFloat32, type FloatDtype } from './dtype.js';
import { type Dtype } from '../types.js';
import { type ByteSource } from './byte-source.js';

/** The reference implementation refuses headers above 100 MB; so do we, before allocating anything. */
export const MAX_HEADER_BYTES = 100_000_000;

export interface SafetensorsEntry {
  name: string;
  dtype: string;
  shape: number[];
  /** Byte offsets relative to the start of the data section. */
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  /** Bytes from the start of the file to the first tensor byte (8 + header length). */
  dataStart: number;
  /** Bytes of tensor data the header describes (the largest end offset). */
  dataLength: number;
  metadata: Record<string, string>;
  entries: SafetensorsEntry[];
}

export interface SafetensorsTensor {
  name: string;
  dtype: string;
  shape: number[];
  /** The tensor's bytes: a view into the parsed buffer. */
  bytes: Uint8Array;
}

export interface SafetensorsFile {
  source: string;
  metadata: Record<string, string>;
  tensors: Map<string, SafetensorsTensor>;
}

/**
 * How many leading bytes (8 + header length) the header needs, from the first 8 bytes of a file, or null
 * while fewer than 8 have arrived. Lets a streaming reader know when it has the whole header.
 */
export function safetensorsHeaderSize(prefix: Uint8Array, source: string): number | null {
  if (prefix.byteLength < 8) return null;
  const view = new DataView(prefix.buffer, prefix.byteOffset, 8);
  const length = view.getBigUint64(0, true);
  if (length > BigInt(MAX_HEADER_BYTES)) {
    throw new SaeFormatError(
      source,
      `declares a ${length}-byte safetensors header, more than the ${MAX_HEADER_BYTES} bytes allowed (not a safetensors file?)`,
    );
  }
  if (length < 2n)
    throw new SaeFormatError(source, `declares a ${length}-byte safetensors header, too short for JSON`);
  return 8 + Number(length);
}

/**
 * Parses and checks the header. `fileLength` is the whole file's size (default: `bytes` is the whole
 * file): offsets past it are rejected. Pass Infinity for an upload whose data has not arrived yet: then
 * only the header's own consistency is checked.
 */
export function parseSafetensorsHeader(
  bytes: Uint8Array,
  source: string,
  fileLength?: number,
): SafetensorsHeader {
  const total = fileLength ?? bytes.byteLength;
  if (bytes.byteLength < 8) {
    throw new SaeFormatError(
      source,
      `is truncated: ${bytes.byteLength} bytes, a safetensors file starts with an 8-byte header length`,
    );
  }
  const dataStart = safetensorsHeaderSize(bytes, source)!;
  if (dataStart > total || dataStart > bytes.byteLength) {
    const have = Math.max(total, bytes.byteLength);
    throw new SaeFormatError(
      source,
      `header length ${dataStart - 8} runs past the end of the file (${have} bytes): truncated or not safetensors`,
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, dataStart)));
  } catch (err) {
    throw new SaeFormatError(
      source,
      `safetensors header is not valid UTF-8 JSON (${(err as Error).message})`,
    );
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new SaeFormatError(source, 'safetensors header is not a JSON object');
  }
  let metadata: Record<string, string> = {};
  const entries: SafetensorsEntry[] = [];
  for (const [name, value] of Object.entries(json as Record<string, unknown>)) {
    if (name === '__metadata__') metadata = checkMetadata(value, source);
    else entries.push(checkEntry(name, value, source));
  }
  const dataLength = entries.reduce((m, e) => Math.max(m, e.end), 0);
  const available = total - dataStart;
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let widest: SafetensorsEntry | undefined;
  for (const e of sorted) {
    if (e.end > available) {
      throw new SaeFormatError(
        source,
        `has data_offsets [${e.begin}, ${e.end}] past the end of the data (${available} bytes): file truncated?`,
        { tensor: e.name },
      );
    }
    // Compare with the tensor reaching furthest so far, not just the previous one: a zero-size tensor
    // between two others must not hide their overlap.
    if (widest && e.begin < widest.end && e.end > e.begin) {
      throw new SaeFormatError(
        source,
        `has data_offsets [${e.begin}, ${e.end}] overlapping tensor "${widest.name}" [${widest.begin}, ${widest.end}]`,
        { tensor: e.name },
      );
    }
    if (!widest || e.end > widest.end) widest = e;
  }
  return { dataStart, dataLength, metadata, entries };
}

function checkMetadata(value: unknown, source: string): Record<string, string> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new SaeFormatError(source, 'safetensors "__metadata__" is not an object of strings');
  }
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== 'string') {
      throw new SaeFormatError(source, `safetensors "__metadata__" field "${k}" is not a string`);
    }
  }
  return value as Record<string, string>;
}

function checkEntry(name: string, value: unknown, source: string): SafetensorsEntry {
  const bad = (problem: string, expected?: string) =>
    new SaeFormatError(source, problem, { tensor: name, expected });
  if (typeof value !== 'object' || value === null) throw bad('has a header entry that is not an object');
  const { dtype, shape, data_offsets: offsets } = value as Record<string, unknown>;
  if (typeof dtype !== 'string' || !(dtype in SAFETENSORS_DTYPE_BYTES)) {
    throw bad(`has unknown dtype ${JSON.stringify(dtype)}`, 'a safetensors dtype such as F32, F16, BF16');
  }
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw bad(`has shape ${JSON.stringify(shape)}`, 'an array of non-negative integers');
  }
  if (
    !Array.isArray(offsets) ||
    offsets.length !== 2 ||
    !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) ||
    offsets[0] > offsets[1]
  ) {
    throw bad(`has data_offsets ${JSON.stringify(offsets)}`, '[begin, end] with 0 ≤ begin ≤ end');
  }
  const [begin, end] = offsets as number[];
  const elements = (shape as number[]).reduce((a, b) => a * b, 1);
  const expected = elements * SAFETENSORS_DTYPE_BYTES[dtype];
  if (end - begin !== expected) {
    throw bad(
      `has data_offsets [${begin}, ${end}] (${end - begin} bytes)`,
      `${expected} bytes for shape ${formatShape(shape as number[])} of ${dtype}`,
    );
  }
  return { name, dtype, shape: shape as number[], begin, end };
}

/** Parses a whole safetensors file held in memory; tensors are views into `bytes`. */
export function parseSafetensors(bytes: Uint8Array, source: string): SafetensorsFile {
  const header = parseSafetensorsHeader(bytes, source);
  const tensors = new Map<string, SafetensorsTensor>();
  for (const e of header.entries) {
    tensors.set(e.name, {
      name: e.name,
      dtype: e.dtype,
      shape: e.shape,
      bytes: bytes.subarray(header.dataStart + e.begin, header.dataStart + e.end),
    });
  }
  return { source, metadata: header.metadata, tensors };
}

export interface SafetensorsReader {
  header: SafetensorsHeader;
  /** Reads one tensor's bytes (only that range of the file). */
  read(entry: SafetensorsEntry): Promise<SafetensorsTensor>;
}

/** Reads and checks the header only; tensors are read one by one, on demand. */
export async function openSafetensors(src: ByteSource): Promise<SafetensorsReader> {
  if (src.size < 8) {
    throw new SaeFormatError(
      src.name,
      `is truncated: ${src.size} bytes, a safetensors file starts with an 8-byte header length`,
    );
  }
  const headerSize = safetensorsHeaderSize(await src.read(0, 8), src.name)!;
  if (headerSize > src.size) {
    throw new SaeFormatError(
      src.name,
      `header length ${headerSize - 8} runs past the end of the file (${src.size} bytes): truncated or not safetensors`,
    );
  }
  const header = parseSafetensorsHeader(await src.read(0, headerSize), src.name, src.size);
  return {
    header,
    async read(e) {
      const bytes = await src.read(header.dataStart + e.begin, e.end - e.begin);
      return { name: e.name, dtype: e.dtype, shape: e.shape, bytes };
    },
  };
}

/** A tensor's values as f32, rejecting non-float dtypes with a message naming the file and tensor. */
export function tensorToFloat32(tensor: SafetensorsTensor, source: string): Float32Array {
  if (tensor.dtype !== 'F32' && tensor.dtype !== 'F16' && tensor.dtype !== 'BF16') {
    throw new SaeFormatError(source, `has dtype ${tensor.dtype}`, {
      tensor: tensor.name,
      expected: 'F32, F16 or BF16',
      got: tensor.dtype,
    });
  }
  return toFloat32(tensor.bytes, tensor.dtype);
}

export type TensorToWrite =
  | { dtype: Dtype; shape: number[]; data: ArrayLike<number> | BigInt64Array }
  /** Raw little-endian bytes in any dtype (tests use it to write what a loader must reject). */
  | { dtype: string; shape: number[]; bytes: Uint8Array };

/**
 * Writes a safetensors file the way huggingface/safetensors does: tensors ordered by dtype size
 * (largest first) then name, compact JSON with `__metadata__` first, the header padded with spaces so the
 * data starts 8-byte aligned.
 */
export function writeSafetensors(
  tensors: Record<string, TensorToWrite>,
  metadata?: Record<string, string>,
): Buffer {
  const named = Object.entries(tensors).map(([name, t]) => ({
    name,
    dtype: t.dtype,
    shape: t.shape,
    bytes: encode(name, t),
  }));
  named.sort(
    (a, b) =>
      (SAFETENSORS_DTYPE_BYTES[b.dtype] ?? 0) - (SAFETENSORS_DTYPE_BYTES[a.dtype] ?? 0) ||
      (a.name < b.name ? -1 : a.name > b.name ? 1 : 0),
  );
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let offset = 0;
  for (const t of named) {
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.bytes.byteLength] };
    offset += t.bytes.byteLength;
  }
  let json = Buffer.from(JSON.stringify(header), 'utf8');
  const pad = (8 - (json.byteLength % 8)) % 8;
  if (pad) json = Buffer.concat([json, Buffer.alloc(pad, 0x20)]);
  const out = Buffer.alloc(8 + json.byteLength + offset);
  out.writeBigUInt64LE(BigInt(json.byteLength), 0);
  json.copy(out, 8);
  let at = 8 + json.byteLength;
  for (const t of named) {
    out.set(t.bytes, at);
    at += t.bytes.byteLength;
  }
  return out;
}

function encode(name: string, t: TensorToWrite): Uint8Array {
  if ('bytes' in t) return t.bytes;
  const elements = t.shape.reduce((a, b) => a * b, 1);
  if (t.data.length !== elements) {
    throw new Error(
      `writeSafetensors: tensor "${name}" has ${t.data.length} values for shape ${formatShape(t.shape)}`,
    );
  }
  switch (t.dtype) {
    case 'F32':
    case 'F16':
    case 'BF16':
      return fromFloat32(t.data as ArrayLike<number>, t.dtype as FloatDtype);
    case 'I32':
      return new Uint8Array(Int32Array.from(t.data as ArrayLike<number>).buffer);
    case 'I64':
      return new Uint8Array(
        (t.data instanceof BigInt64Array
          ? t.data
          : BigInt64Array.from(t.data as ArrayLike<number>, (v) => BigInt(v))
        ).slice().buffer,
      );
  }
}
