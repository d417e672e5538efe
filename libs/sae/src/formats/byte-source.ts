/**
 * Random access to the bytes of a file, in memory or on disk. Loaders read a header first and then only
 * the tensors they need, so a multi-GB SAE on disk is never held whole (its W_dec is never read), and an
 * upload already in memory is read through views without copies.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { SaeFormatError } from '../errors.js';

export interface ByteSource {
  /** The file as named in messages. */
  readonly name: string;
  readonly size: number;
  /** Exactly `length` bytes at `offset`; the range must lie inside the source. */
  read(offset: number, length: number): Promise<Uint8Array>;
}

export function memorySource(name: string, bytes: Uint8Array): ByteSource {
  return {
    name,
    size: bytes.byteLength,
    async read(offset, length) {
      checkRange(name, bytes.byteLength, offset, length);
      return bytes.subarray(offset, offset + length);
    },
  };
}

export interface FileSource extends ByteSource {
  close(): Promise<void>;
}

export async function openFileSource(path: string, name = path): Promise<FileSource> {
  let handle: FileHandle;
  try {
    handle = await open(path, 'r');
  } catch (err) {
    throw new SaeFormatError(
      name,
      `cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
    );
  }
  const { size } = await handle.stat();
  return {
    name,
    size,
    async read(offset, length) {
      checkRange(name, size, offset, length);
      // A buffer of its own (not from the pool) so f32 data starts 4-byte aligned and can be viewed.
      const out = Buffer.allocUnsafeSlow(length);
      let done = 0;
      while (done < length) {
        // One read call moves at most 2 GiB - 1 bytes (libuv); large tensors take several.
        const chunk = Math.min(length - done, 1 << 30);
        const { bytesRead } = await handle.read(out, done, chunk, offset + done);
        if (bytesRead === 0)
          throw new SaeFormatError(
            name,
            `ended after ${offset + done} bytes while reading (changed on disk?)`,
          );
        done += bytesRead;
      }
      return out;
    },
    close: () => handle.close(),
  };
}

function checkRange(name: string, size: number, offset: number, length: number): void {
  if (offset < 0 || length < 0 || offset + length > size) {
    throw new SaeFormatError(name, `is truncated: needs bytes ${offset}..${offset + length}, has ${size}`);
  }
}
