/**
 * Activation files a training job uploads: a safetensors file with `activations` [n_tokens, d_in] (F32,
 * F16 or BF16) and optional `prompt_offsets` [n_prompts + 1] (I32 or I64), or a plain .npy
 * [n_tokens, d_in] (f32 or f16). See docs/engine.md.
 */
import { SaeFormatError, formatShape } from './errors.js';
import { openFileSource } from './formats/byte-source.js';
import { toFloat32, type FloatDtype } from './formats/dtype.js';
import { isNpy, npyHeaderSize, parseNpy, parseNpyHeader } from './formats/npy.js';
import {
  parseSafetensors,
  parseSafetensorsHeader,
  safetensorsHeaderSize,
  tensorToFloat32,
  type SafetensorsEntry,
  type SafetensorsTensor,
} from './formats/safetensors.js';
import { type Activations } from './types.js';

export const ACTIVATIONS_TENSOR = 'activations';
export const PROMPT_OFFSETS_TENSOR = 'prompt_offsets';

export interface ActivationsHeaderInfo {
  format: 'safetensors' | 'npy';
  nTokens: number;
  dIn: number;
  dtype: FloatDtype;
  hasPromptOffsets: boolean;
  /** n_prompts when prompt_offsets is present. */
  nPrompts?: number;
  /** Bytes before the first data byte. */
  headerLength: number;
  /** Bytes of tensor data after the header. */
  dataLength: number;
  /** The whole file's size: headerLength + dataLength (an upload of another size is broken). */
  totalLength: number;
}

/**
 * How many leading bytes an upload needs before `inspectActivationsHeader` can judge it, or null while
 * too few have arrived to tell (fewer than 12).
 */
export function activationsHeaderSize(prefix: Uint8Array, sourceName = 'activations'): number | null {
  if (prefix.byteLength < 12) return null;
  return isNpy(prefix) ? npyHeaderSize(prefix, sourceName) : safetensorsHeaderSize(prefix, sourceName);
}

/**
 * Validates an activations file from its header alone (the first `activationsHeaderSize` bytes or more),
 * so an API can refuse a bad upload while it streams. The data itself (NaN, prompt offset values) is
 * checked by `parseActivations`.
 */
export function inspectActivationsHeader(
  headerBytes: Uint8Array,
  sourceName = 'activations',
): ActivationsHeaderInfo {
  if (isNpy(headerBytes)) {
    const h = parseNpyHeader(headerBytes, sourceName, undefined, Infinity);
    const [nTokens, dIn] = checkActivationsShape(h.shape, sourceName, undefined);
    return {
      format: 'npy',
      nTokens,
      dIn,
      dtype: h.dtype,
      hasPromptOffsets: false,
      headerLength: h.dataStart,
      dataLength: h.dataLength,
      totalLength: h.dataStart + h.dataLength,
    };
  }
  const header = parseSafetensorsHeader(headerBytes, sourceName, Infinity);
  const byName = new Map(header.entries.map((e) => [e.name, e]));
  const act = byName.get(ACTIVATIONS_TENSOR);
  if (!act) throw missingActivations(sourceName, [...byName.keys()]);
  const dtype = checkFloatDtype(act, sourceName);
  const [nTokens, dIn] = checkActivationsShape(act.shape, sourceName, ACTIVATIONS_TENSOR);
  const offsets = byName.get(PROMPT_OFFSETS_TENSOR);
  if (offsets) checkOffsetsEntry(offsets, sourceName);
  return {
    format: 'safetensors',
    nTokens,
    dIn,
    dtype,
    hasPromptOffsets: offsets !== undefined,
    nPrompts: offsets ? offsets.shape[0] - 1 : undefined,
    headerLength: header.dataStart,
    dataLength: header.dataLength,
    totalLength: header.dataStart + header.dataLength,
  };
}

/** Parses a whole activations file (safetensors or .npy, told apart by content). */
export function parseActivations(bytes: Uint8Array, sourceName: string): Activations {
  if (isNpy(bytes)) {
    const npy = parseNpy(bytes, sourceName);
    const [nTokens, dIn] = checkActivationsShape(npy.shape, sourceName, undefined);
    const data = toFloat32(npy.bytes, npy.dtype);
    checkFinite(data, dIn, sourceName, undefined);
    return { nTokens, dIn, data };
  }
  const file = parseSafetensors(bytes, sourceName);
  const act = file.tensors.get(ACTIVATIONS_TENSOR);
  if (!act) throw missingActivations(sourceName, [...file.tensors.keys()]);
  checkFloatDtype(act, sourceName);
  const [nTokens, dIn] = checkActivationsShape(act.shape, sourceName, ACTIVATIONS_TENSOR);
  const data = tensorToFloat32(act, sourceName);
  checkFinite(data, dIn, sourceName, ACTIVATIONS_TENSOR);
  const offsets = file.tensors.get(PROMPT_OFFSETS_TENSOR);
  if (!offsets) return { nTokens, dIn, data };
  return { nTokens, dIn, data, promptOffsets: readPromptOffsets(offsets, nTokens, sourceName) };
}

/** Reads and parses an activations file (read in chunks: fs.readFile refuses files over 2 GiB). */
export async function readActivationsFile(path: string): Promise<Activations> {
  const src = await openFileSource(path);
  try {
    return parseActivations(await src.read(0, src.size), path);
  } finally {
    await src.close();
  }
}

function missingActivations(source: string, names: string[]): SaeFormatError {
  const have = names.length ? names.map((n) => `"${n}"`).join(', ') : 'none';
  return new SaeFormatError(source, `has no tensor "${ACTIVATIONS_TENSOR}" (tensors: ${have})`, {
    expected: `"${ACTIVATIONS_TENSOR}" [n_tokens, d_in]`,
  });
}

function checkFloatDtype(e: { name: string; dtype: string }, source: string): FloatDtype {
  if (e.dtype === 'F32' || e.dtype === 'F16' || e.dtype === 'BF16') return e.dtype;
  throw new SaeFormatError(source, `has dtype ${e.dtype}`, {
    tensor: e.name,
    expected: 'F32, F16 or BF16',
    got: e.dtype,
  });
}

function checkActivationsShape(
  shape: number[],
  source: string,
  tensor: string | undefined,
): [number, number] {
  if (shape.length !== 2 || shape[0] < 1 || shape[1] < 1) {
    throw new SaeFormatError(source, `has shape ${formatShape(shape)}`, {
      tensor,
      expected: '[n_tokens, d_in] with at least one token and one dimension',
      got: formatShape(shape),
    });
  }
  return [shape[0], shape[1]];
}

function checkOffsetsEntry(e: SafetensorsEntry | SafetensorsTensor, source: string): void {
  if (e.dtype !== 'I32' && e.dtype !== 'I64') {
    throw new SaeFormatError(source, `has dtype ${e.dtype}`, {
      tensor: e.name,
      expected: 'I32 or I64',
      got: e.dtype,
    });
  }
  if (e.shape.length !== 1 || e.shape[0] < 2) {
    throw new SaeFormatError(source, `has shape ${formatShape(e.shape)}`, {
      tensor: e.name,
      expected: '[n_prompts + 1] with at least one prompt',
      got: formatShape(e.shape),
    });
  }
}

function readPromptOffsets(t: SafetensorsTensor, nTokens: number, source: string): Int32Array {
  checkOffsetsEntry(t, source);
  const n = t.shape[0];
  const view = new DataView(t.bytes.buffer, t.bytes.byteOffset, t.bytes.byteLength);
  const out = new Int32Array(n);
  for (let p = 0; p < n; p++) {
    const v = t.dtype === 'I32' ? view.getInt32(p * 4, true) : Number(view.getBigInt64(p * 8, true));
    const prev = p === 0 ? 0 : out[p - 1];
    if (p === 0 && v !== 0) {
      throw new SaeFormatError(source, `starts at ${v}`, { tensor: t.name, expected: '0' });
    }
    if (v < prev || v > nTokens) {
      throw new SaeFormatError(source, `has ${v} at index ${p} after ${prev}`, {
        tensor: t.name,
        expected: `non-decreasing offsets within 0..${nTokens} (n_tokens)`,
      });
    }
    out[p] = v;
  }
  if (out[n - 1] !== nTokens) {
    throw new SaeFormatError(source, `ends at ${out[n - 1]}`, {
      tensor: t.name,
      expected: `${nTokens} (n_tokens of "${ACTIVATIONS_TENSOR}")`,
    });
  }
  return out;
}

/** Rejects NaN and ±Inf, naming the first bad token: one bad row would poison every statistic. */
function checkFinite(data: Float32Array, dIn: number, source: string, tensor: string | undefined): void {
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (v - v !== 0) {
      const token = Math.floor(i / dIn);
      throw new SaeFormatError(source, `has ${v} at token ${token} (element [${token}, ${i % dIn}])`, {
        tensor,
        expected: 'finite values',
      });
    }
  }
}
