/**
 * numpy .npz: a zip of `<name>.npy` entries (numpy.savez stores them, numpy.savez_compressed deflates).
 * A stored entry is read in two steps, its .npy header and then, only when asked for, its data, so the
 * arrays an SAE loader does not need (W_dec) are never read from disk. Deflated entries are inflated whole.
 */
import { SaeFormatError } from '../errors.js';
import { type ByteSource } from './byte-source.js';
import {
  npyHeaderSize,
  parseNpy,
  parseNpyHeader,
  writeNpy,
  type NpyArray,
  type NpyDtype,
  type NpyHeader,
} from './npy.js';
import {
  checkZipCrc,
  readZipDirectory,
  readZipEntry,
  writeZip,
  zipEntryDataStart,
  type ZipEntry,
} from './zip.js';

export interface NpzArchive {
  /** Array names (entry names without ".npy"). */
  readonly names: string[];
  has(name: string): boolean;
  /** The array's dtype and shape, from its .npy header. */
  header(name: string): Promise<Pick<NpyHeader, 'dtype' | 'shape'>>;
  /** Reads and parses one array (CRC-checked); messages name the archive and the array. */
  read(name: string): Promise<NpyArray>;
}

interface StoredArray {
  dataStart: number;
  headerBytes: Uint8Array;
  header: NpyHeader;
}

export async function openNpz(src: ByteSource): Promise<NpzArchive> {
  const entries = new Map<string, ZipEntry>();
  for (const e of await readZipDirectory(src)) {
    if (!e.name.endsWith('.npy')) {
      throw new SaeFormatError(src.name, `has entry "${e.name}", expected only .npy arrays (numpy.savez)`);
    }
    entries.set(e.name.slice(0, -4), e);
  }
  const stored = new Map<string, Promise<StoredArray>>();
  const inflated = new Map<string, Promise<NpyArray>>();

  const entryOf = (name: string) => {
    const entry = entries.get(name);
    if (!entry) throw new SaeFormatError(src.name, 'is missing', { tensor: name });
    return entry;
  };
  const storedHeader = async (name: string, entry: ZipEntry): Promise<StoredArray> => {
    const dataStart = await zipEntryDataStart(src, entry);
    const prefix = await src.read(dataStart, Math.min(entry.size, 12));
    const size = npyHeaderSize(prefix, src.name, name);
    if (size === null || size > entry.size) {
      throw new SaeFormatError(src.name, `is truncated inside its .npy header (${entry.size} bytes)`, {
        tensor: name,
      });
    }
    const headerBytes = await src.read(dataStart, size);
    const header = parseNpyHeader(headerBytes, src.name, name, entry.size);
    if (header.dataStart + header.dataLength !== entry.size) {
      throw new SaeFormatError(
        src.name,
        `has ${entry.size - header.dataStart - header.dataLength} bytes after its data`,
        {
          tensor: name,
          expected: 'an entry that ends with the array',
        },
      );
    }
    return { dataStart, headerBytes, header };
  };
  const deflated = (name: string, entry: ZipEntry) => {
    if (!inflated.has(name))
      inflated.set(
        name,
        readZipEntry(src, entry).then((b) => parseNpy(b, src.name, name)),
      );
    return inflated.get(name)!;
  };
  const storedOf = (name: string, entry: ZipEntry) => {
    if (!stored.has(name)) stored.set(name, storedHeader(name, entry));
    return stored.get(name)!;
  };

  return {
    names: [...entries.keys()],
    has: (name) => entries.has(name),
    async header(name) {
      const entry = entryOf(name);
      const { dtype, shape } =
        entry.method === 0 ? (await storedOf(name, entry)).header : await deflated(name, entry);
      return { dtype, shape };
    },
    async read(name) {
      const entry = entryOf(name);
      if (entry.method !== 0) return deflated(name, entry);
      const s = await storedOf(name, entry);
      const bytes = await src.read(s.dataStart + s.header.dataStart, s.header.dataLength);
      checkZipCrc(src, entry, s.headerBytes, bytes);
      return { dtype: s.header.dtype, shape: s.header.shape, bytes };
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
