/**
 * The parts of ZIP that numpy's .npz files use: the central directory (with ZIP64 records, which
 * numpy.savez always writes into local headers and which large files need), stored and deflated entries,
 * CRC-32 checked. Writing follows what Python's zipfile does for numpy.savez.
 */
import { crc32, deflateRawSync, inflateRawSync } from 'node:zlib';
import { SaeFormatError } from '../errors.js';
import { type ByteSource } from './byte-source.js';

const EOCD = 0x06054b50;
const ZIP64_LOCATOR = 0x07064b50;
const ZIP64_EOCD = 0x06064b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;
const MAX_COMMENT = 0xffff;

export interface ZipEntry {
  name: string;
  method: number;
  crc: number;
  compressedSize: number;
  size: number;
  localOffset: number;
}

function u64(view: DataView, at: number): number {
  const v = view.getBigUint64(at, true);
  return v > BigInt(Number.MAX_SAFE_INTEGER) ? Infinity : Number(v);
}

/** Offset of the end of central directory record in `tail` (which ends the file), or -1. */
function findEndRecord(tail: Uint8Array): number {
  const view = new DataView(tail.buffer, tail.byteOffset, tail.byteLength);
  for (let i = tail.byteLength - 22; i >= 0; i--) {
    if (view.getUint32(i, true) === EOCD && i + 22 + view.getUint16(i + 20, true) === tail.byteLength)
      return i;
  }
  return -1;
}

/** Lists the entries of a zip from its central directory. */
export async function readZipDirectory(src: ByteSource): Promise<ZipEntry[]> {
  const bad = (problem: string) => new SaeFormatError(src.name, problem);
  if (src.size < 22) throw bad(`is not a zip archive (${src.size} bytes, too short)`);
  // The end record is the last 22 bytes unless the archive has a comment (numpy never writes one): try
  // that (with room for a ZIP64 locator before it) and read the longest possible tail only if needed.
  let tail = await src.read(src.size - Math.min(src.size, 42), Math.min(src.size, 42));
  let at = findEndRecord(tail);
  if (at < 0 && src.size > 42) {
    const tailLength = Math.min(src.size, 22 + MAX_COMMENT + 20);
    tail = await src.read(src.size - tailLength, tailLength);
    at = findEndRecord(tail);
  }
  const tv = new DataView(tail.buffer, tail.byteOffset, tail.byteLength);
  if (at < 0) throw bad('is not a zip archive (no end of central directory record): truncated?');
  let count = tv.getUint16(at + 10, true);
  let cdSize = tv.getUint32(at + 12, true);
  let cdOffset = tv.getUint32(at + 16, true);
  if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    if (at < 20 || tv.getUint32(at - 20, true) !== ZIP64_LOCATOR)
      throw bad('has a ZIP64 archive without its locator');
    const z64At = u64(tv, at - 20 + 8);
    if (z64At + 56 > src.size) throw bad('has a ZIP64 end record past the end of the file');
    const z64 = await src.read(z64At, 56);
    const zv = new DataView(z64.buffer, z64.byteOffset, 56);
    if (zv.getUint32(0, true) !== ZIP64_EOCD) throw bad('has a broken ZIP64 end of central directory record');
    count = u64(zv, 32);
    cdSize = u64(zv, 40);
    cdOffset = u64(zv, 48);
  }
  if (cdOffset + cdSize > src.size)
    throw bad(`has its central directory past the end of the file (truncated?)`);
  const cd = await src.read(cdOffset, cdSize);
  const cv = new DataView(cd.buffer, cd.byteOffset, cd.byteLength);
  const entries: ZipEntry[] = [];
  let p = 0;
  for (let e = 0; e < count; e++) {
    if (p + 46 > cd.byteLength || cv.getUint32(p, true) !== CENTRAL)
      throw bad(`has a broken central directory entry ${e}`);
    const flags = cv.getUint16(p + 8, true);
    const nameLength = cv.getUint16(p + 28, true);
    const extraLength = cv.getUint16(p + 30, true);
    const commentLength = cv.getUint16(p + 32, true);
    if (p + 46 + nameLength + extraLength > cd.byteLength)
      throw bad(`has a broken central directory entry ${e}`);
    const name = new TextDecoder().decode(cd.subarray(p + 46, p + 46 + nameLength));
    if (flags & 1) throw bad(`has an encrypted entry "${name}"`);
    const entry: ZipEntry = {
      name,
      method: cv.getUint16(p + 10, true),
      crc: cv.getUint32(p + 16, true),
      compressedSize: cv.getUint32(p + 20, true),
      size: cv.getUint32(p + 24, true),
      localOffset: cv.getUint32(p + 42, true),
    };
    readZip64Extra(cv, p + 46 + nameLength, extraLength, entry);
    entries.push(entry);
    p += 46 + nameLength + extraLength + commentLength;
  }
  return entries;
}

/** Replaces 0xffffffff sizes and offset with their values from the ZIP64 extra field (id 1), in order. */
function readZip64Extra(view: DataView, start: number, length: number, entry: ZipEntry): void {
  for (let p = start; p + 4 <= start + length;) {
    const id = view.getUint16(p, true);
    const size = view.getUint16(p + 2, true);
    if (id === 1) {
      let q = p + 4;
      const take = () => {
        const v = q + 8 <= p + 4 + size ? u64(view, q) : NaN;
        q += 8;
        return v;
      };
      if (entry.size === 0xffffffff) entry.size = take();
      if (entry.compressedSize === 0xffffffff) entry.compressedSize = take();
      if (entry.localOffset === 0xffffffff) entry.localOffset = take();
    }
    p += 4 + size;
  }
}

function entryError(src: ByteSource, entry: ZipEntry, problem: string): SaeFormatError {
  return new SaeFormatError(src.name, `entry "${entry.name}" ${problem}`);
}

/**
 * Checks an entry's local header, compression method and bounds; returns the offset of its first data
 * byte in the archive.
 */
export async function zipEntryDataStart(src: ByteSource, entry: ZipEntry): Promise<number> {
  const bad = (problem: string) => entryError(src, entry, problem);
  if (entry.method !== 0 && entry.method !== 8) {
    throw bad(`uses compression method ${entry.method}, expected 0 (stored) or 8 (deflate)`);
  }
  if (entry.method === 0 && entry.size !== entry.compressedSize) throw bad('is stored but its sizes differ');
  if (!(entry.localOffset + 30 <= src.size)) throw bad('starts past the end of the file (truncated?)');
  const local = await src.read(entry.localOffset, 30);
  const lv = new DataView(local.buffer, local.byteOffset, 30);
  if (lv.getUint32(0, true) !== LOCAL) throw bad('has no local file header where the central directory says');
  const dataStart = entry.localOffset + 30 + lv.getUint16(26, true) + lv.getUint16(28, true);
  if (!(dataStart + entry.compressedSize <= src.size)) {
    throw bad(
      `runs past the end of the file (${entry.compressedSize} bytes at ${dataStart}, file ${src.size}): truncated?`,
    );
  }
  return dataStart;
}

/** Checks the CRC-32 of an entry's uncompressed bytes, given in consecutive parts. */
export function checkZipCrc(src: ByteSource, entry: ZipEntry, ...parts: Uint8Array[]): void {
  let crc = 0;
  for (const part of parts) crc = crc32(part, crc);
  if (crc >>> 0 !== entry.crc >>> 0) throw entryError(src, entry, 'fails its CRC-32 check (corrupt)');
}

/** The uncompressed bytes of one entry, CRC-checked. */
export async function readZipEntry(src: ByteSource, entry: ZipEntry): Promise<Uint8Array> {
  const dataStart = await zipEntryDataStart(src, entry);
  const raw = await src.read(dataStart, entry.compressedSize);
  let data: Uint8Array = raw;
  if (entry.method === 8) {
    try {
      data = inflateRawSync(raw, { maxOutputLength: Math.max(entry.size, 1) });
    } catch (err) {
      throw entryError(src, entry, `cannot be inflated (${(err as Error).message})`);
    }
    if (data.byteLength !== entry.size) {
      throw entryError(src, entry, `inflates to ${data.byteLength} bytes, expected ${entry.size}`);
    }
  }
  checkZipCrc(src, entry, data);
  return data;
}

/**
 * A zip as Python's zipfile writes it for numpy.savez(_compressed): each local header carries a ZIP64
 * extra field with both sizes (zipfile.open(..., force_zip64=True)), dates are 1980-01-01, entries are
 * stored (or deflated when `compress`).
 */
export function writeZip(files: { name: string; data: Uint8Array }[], compress = false): Buffer {
  const parts: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const f of files) {
    const name = Buffer.from(f.name, 'utf8');
    const body = compress
      ? deflateRawSync(f.data)
      : Buffer.from(f.data.buffer, f.data.byteOffset, f.data.byteLength);
    const crc = crc32(f.data) >>> 0;
    const local = Buffer.alloc(30 + name.byteLength + 20);
    local.writeUInt32LE(LOCAL, 0);
    local.writeUInt16LE(45, 4); // version needed: 4.5 (ZIP64)
    local.writeUInt16LE(compress ? 8 : 0, 8);
    local.writeUInt16LE(0x21, 12); // date 1980-01-01, time 00:00
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(0xffffffff, 18);
    local.writeUInt32LE(0xffffffff, 22);
    local.writeUInt16LE(name.byteLength, 26);
    local.writeUInt16LE(20, 28);
    name.copy(local, 30);
    local.writeUInt16LE(1, 30 + name.byteLength);
    local.writeUInt16LE(16, 32 + name.byteLength);
    local.writeBigUInt64LE(BigInt(f.data.byteLength), 34 + name.byteLength);
    local.writeBigUInt64LE(BigInt(body.byteLength), 42 + name.byteLength);
    const entry = Buffer.alloc(46 + name.byteLength);
    entry.writeUInt32LE(CENTRAL, 0);
    entry.writeUInt16LE(0x032d, 4); // made by: Unix, 4.5
    entry.writeUInt16LE(45, 6);
    entry.writeUInt16LE(compress ? 8 : 0, 10);
    entry.writeUInt16LE(0x21, 14);
    entry.writeUInt32LE(crc, 16);
    entry.writeUInt32LE(body.byteLength, 20);
    entry.writeUInt32LE(f.data.byteLength, 24);
    entry.writeUInt16LE(name.byteLength, 28);
    entry.writeUInt32LE(0o600 << 16, 38); // external attributes: -rw-------
    entry.writeUInt32LE(offset, 42);
    name.copy(entry, 46);
    parts.push(local, body);
    central.push(entry);
    offset += local.byteLength + body.byteLength;
  }
  const cdSize = central.reduce((s, b) => s + b.byteLength, 0);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(EOCD, 0);
  end.writeUInt16LE(files.length, 8);
  end.writeUInt16LE(files.length, 10);
  end.writeUInt32LE(cdSize, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...parts, ...central, end]);
}
