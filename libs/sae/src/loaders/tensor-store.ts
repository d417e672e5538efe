/**
 * One view over the tensors of a weights file, whatever its container (safetensors, npz), with the checks
 * every loader needs: presence, float dtype, exact shape and finite values, each failing with a message that
 * names the file, the tensor and what was expected.
 */
import { SaeFormatError, formatShape } from '../errors.js';
import { type ByteSource } from '../formats/byte-source.js';
import { toFloat32 } from '../formats/dtype.js';
import { openNpz } from '../formats/npz.js';
import { openSafetensors, tensorToFloat32 } from '../formats/safetensors.js';
import { type Dtype } from '../types.js';

export interface TensorInfo {
  name: string;
  /** safetensors spelling (npy '<f4' is F32, '<f2' is F16). */
  dtype: string;
  shape: number[];
}

export interface TensorStore {
  /** The file, as named in messages. */
  readonly file: string;
  readonly tensors: Map<string, TensorInfo>;
  /** The values as f32 (a view when the file holds aligned F32). */
  values(name: string): Promise<Float32Array>;
}

export async function safetensorsStore(src: ByteSource): Promise<TensorStore> {
  const reader = await openSafetensors(src);
  const entries = new Map(reader.header.entries.map((e) => [e.name, e]));
  return {
    file: src.name,
    tensors: new Map(
      reader.header.entries.map((e) => [e.name, { name: e.name, dtype: e.dtype, shape: e.shape }]),
    ),
    values: async (name) => tensorToFloat32(await reader.read(entries.get(name)!), src.name),
  };
}

export async function npzStore(src: ByteSource): Promise<TensorStore> {
  const npz = await openNpz(src);
  // Only .npy headers are read here; array data is read when `values` asks for it.
  const tensors = new Map<string, TensorInfo>();
  for (const name of npz.names) tensors.set(name, { name, ...(await npz.header(name)) });
  return {
    file: src.name,
    tensors,
    values: async (name) => {
      const array = await npz.read(name);
      return toFloat32(array.bytes, array.dtype);
    },
  };
}

/** The names present, for "missing tensor" messages. */
export function tensorList(store: TensorStore): string {
  const names = [...store.tensors.keys()];
  return names.length ? names.map((n) => `"${n}"`).join(', ') : 'none';
}

export function requireTensor(store: TensorStore, name: string, expected: string): TensorInfo {
  const info = store.tensors.get(name);
  if (!info) {
    throw new SaeFormatError(store.file, `is missing (tensors present: ${tensorList(store)})`, {
      tensor: name,
      expected,
    });
  }
  if (info.dtype !== 'F32' && info.dtype !== 'F16' && info.dtype !== 'BF16') {
    throw new SaeFormatError(store.file, `has dtype ${info.dtype}`, {
      tensor: name,
      expected: 'F32, F16 or BF16',
      got: info.dtype,
    });
  }
  return info;
}

/** Checks a tensor's shape; `why` says where the expected dimensions came from. */
export function checkShape(store: TensorStore, info: TensorInfo, expected: number[], why: string): void {
  if (info.shape.length !== expected.length || info.shape.some((d, i) => d !== expected[i])) {
    throw new SaeFormatError(store.file, `has shape ${formatShape(info.shape)}`, {
      tensor: info.name,
      expected: `${formatShape(expected)} (${why})`,
      got: formatShape(info.shape),
    });
  }
}

/** Reads a checked tensor and rejects NaN/Inf, naming the first bad element by its index. */
export async function finiteValues(store: TensorStore, info: TensorInfo): Promise<Float32Array> {
  const values = await store.values(info.name);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v - v !== 0) {
      throw new SaeFormatError(store.file, `has ${v} at ${formatShape(unravel(i, info.shape))}`, {
        tensor: info.name,
        expected: 'finite values',
      });
    }
  }
  return values;
}

function unravel(index: number, shape: number[]): number[] {
  const out: number[] = [];
  for (let d = shape.length - 1; d >= 0; d--) {
    out.unshift(index % shape[d]);
    index = Math.floor(index / shape[d]);
  }
  return out;
}

export function sourceDtype(info: TensorInfo): Dtype {
  return info.dtype as Dtype;
}
