/**
 * numpy .npz: a zip of `<name>.npy` entries (numpy.savez stores them, numpy.savez_compressed deflates).
 * Arrays are read on demand: a stored entry's .npy header is read first and its data only when asked for.
 */
import { SaeFormatError } from '../errors.js';
import { type ByteSource } from './byte-source.js';
import { parseNpy, type NpyArray, type NpyDtype, writeNpy } from './npy.js';
import { readZipDirectory, readZipEntry, writeZip, type ZipEntry } from './zip.js';

export interface NpzArchive {
  /** Array names (entry names without ".npy"). */
  readonly names: string[];
  has(name: string): boolean;
  /** Reads and parses one array; the message names the archive and the array when it is malformed. */
  read(name: string): Promise<NpyArray>;
}

export async function openNpz(src: ByteSource): Promise<NpzArchive> {
  const entries = new Map<string, ZipEntry>();
  for (const e of await readZipDirectory(src)) {
    if (!e.name.endsWith('.npy')) {
      throw new SaeFormatError(src.name, `has entry "${e.name}", expected only .npy arrays (numpy.savez)`);
    }
    entries.set(e.name.slice(0, -4), e);
  }
  return {
    names: [...entries.keys()],
    has: (name) => entries.has(name),
    async read(name) {
      const entry = entries.get(name);
      if (!entry) throw new SaeFormatError(src.name, 'is missing', { tensor: name });
      return parseNpy(await readZipEntry(src, entry), src.name, name);
    },
  };
}

/** Writes an .npz exactly as numpy.savez (or numpy.savez_compressed when `compress`) does. */
export function writeNpz(
  arrays: Record<string, { dtype: NpyDtype; shape: number[]; data: ArrayLike<number> }>,
  compress = false,
): Buffer {
  return writeZip(
    Object.entries(arrays).map(([name, a]) => ({ name: `${name}.npy`, data: writeNpy(a) })),
    compress,
  );
}
