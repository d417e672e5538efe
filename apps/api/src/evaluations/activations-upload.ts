import { createHash, type Hash } from 'node:crypto';
import {
  ACTIVATIONS_TENSOR,
  activationsHeaderSize,
  type ActivationsHeaderInfo,
  inspectActivationsHeader,
  parseSafetensorsHeader,
  PROMPT_OFFSETS_TENSOR,
  SaeFormatError,
} from '../../../../libs/sae/src/index.js';

/**
 * The largest header accepted. An activations file describes two tensors in a few hundred bytes; the
 * format's own 100 MB ceiling would let a client make the API buffer (and re-concatenate, chunk by chunk)
 * 100 MB before a single check could run.
 */
export const MAX_HEADER_BYTES = 1024 * 1024;

/** Why an upload was refused, with the HTTP status that says whose problem it is. */
export class UploadRejectedError extends Error {
  constructor(
    readonly status: 400 | 409 | 413 | 422,
    message: string,
  ) {
    super(message);
    this.name = 'UploadRejectedError';
  }
}

export interface UploadCheckOptions {
  /** The run's SAE d_in: activations of another width cannot be encoded. */
  expectedDIn: number;
  limitBytes: number;
  /** Content-Length when the client sent one: compared with the size the header implies. */
  declaredLength?: number;
  /** How the file is named in messages. */
  source: string;
}

interface FloatRange {
  /** Absolute byte offsets in the upload. */
  begin: number;
  end: number;
  elementBytes: 2 | 4;
  /** Exponent bits; all set means NaN or ±Inf in every IEEE-style float format. */
  exponentMask: number;
  dtype: 'F32' | 'F16' | 'BF16';
}

/**
 * Checks an activations upload chunk by chunk as it streams, so a bad file is refused before it is
 * stored: the header (format, dtype, shape, d_in against the run's SAE) as soon as it has arrived, the
 * size against the limit and the header's own length, every activation value for NaN and ±Inf (naming the
 * first bad token), and the prompt offsets. It hashes the bytes (sha256) in the same pass. Nothing is
 * buffered except the header, a float split across two chunks, and the small prompt_offsets tensor.
 */
export class ActivationsUploadCheck {
  readonly hash: Hash = createHash('sha256');
  received = 0;
  info?: ActivationsHeaderInfo;
  private headerParts: Buffer[] = [];
  private headerBytes = 0;
  private floats?: FloatRange;
  /** Bytes of the float range already scanned (aligned to whole elements). */
  private scanned = 0;
  private carry = Buffer.alloc(0);
  /**
   * prompt_offsets, checked element by element as they stream: never allocated whole, since a header
   * may declare a tensor of any size up to the upload limit before a single data byte arrives.
   */
  private offsets?: { begin: number; end: number; width: 4 | 8; index: number; prev: number; carry: Buffer };

  constructor(private readonly opts: UploadCheckOptions) {
    if (opts.declaredLength !== undefined && opts.declaredLength > opts.limitBytes) {
      throw new UploadRejectedError(
        413,
        `upload of ${opts.declaredLength} bytes is over the limit of ${opts.limitBytes} bytes (UPLOAD_LIMIT_BYTES)`,
      );
    }
  }

  /** Takes the next chunk; throws UploadRejectedError at the first problem. */
  push(chunk: Uint8Array): void {
    const start = this.received;
    this.received += chunk.byteLength;
    if (this.received > this.opts.limitBytes) {
      throw new UploadRejectedError(
        413,
        `upload is over the limit of ${this.opts.limitBytes} bytes (UPLOAD_LIMIT_BYTES)`,
      );
    }
    if (this.info && this.received > this.info.totalLength) {
      throw new UploadRejectedError(
        400,
        `${this.opts.source}: ${this.received - this.info.totalLength}+ bytes after the end of the tensor data ` +
          `(the header describes a file of ${this.info.totalLength} bytes)`,
      );
    }
    this.hash.update(chunk);
    if (!this.info) {
      this.headerParts.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
      this.headerBytes += chunk.byteLength;
      this.tryHeader();
      // The header's arrival may have been this chunk; scan whatever part of it is data.
      if (!this.info) return;
      const whole = Buffer.concat(this.headerParts);
      this.headerParts = [];
      this.scan(whole, 0);
      return;
    }
    this.scan(chunk, start);
  }

  /** The upload ended: it must be exactly as long as its header says, with valid prompt offsets. */
  finish(): ActivationsHeaderInfo & { sha256: string; sizeBytes: number } {
    if (!this.info) {
      throw new UploadRejectedError(
        400,
        `${this.opts.source}: upload ended after ${this.received} bytes, before the end of its header ` +
          '(expected a safetensors file with "activations" [n_tokens, d_in], or a .npy array)',
      );
    }
    if (this.received < this.info.totalLength) {
      throw new UploadRejectedError(
        400,
        `${this.opts.source}: truncated, ${this.received} bytes received but the header describes ` +
          `${this.info.totalLength} bytes`,
      );
    }
    return { ...this.info, sha256: this.hash.digest('hex'), sizeBytes: this.received };
  }

  private tryHeader(): void {
    const prefix = this.headerParts.length === 1 ? this.headerParts[0] : Buffer.concat(this.headerParts);
    this.headerParts = [prefix];
    let need: number | null;
    try {
      need = activationsHeaderSize(prefix, this.opts.source);
      if (need === null || prefix.byteLength < need) {
        if (need !== null && need > MAX_HEADER_BYTES) {
          throw new UploadRejectedError(
            400,
            `${this.opts.source}: declares a ${need}-byte header; an activations file's header (two tensors) ` +
              `needs far less than the ${MAX_HEADER_BYTES} bytes accepted (not an activations file?)`,
          );
        }
        if (need !== null && need > this.opts.limitBytes) {
          throw new UploadRejectedError(
            413,
            `${this.opts.source}: header of ${need} bytes is over the upload limit of ${this.opts.limitBytes} bytes`,
          );
        }
        return;
      }
      this.accept(
        inspectActivationsHeader(prefix.subarray(0, need), this.opts.source),
        prefix.subarray(0, need),
      );
    } catch (err) {
      if (err instanceof SaeFormatError) throw new UploadRejectedError(400, err.message);
      throw err;
    }
  }

  private accept(info: ActivationsHeaderInfo, header: Uint8Array): void {
    const { source, expectedDIn, limitBytes, declaredLength } = this.opts;
    if (info.dIn !== expectedDIn) {
      throw new UploadRejectedError(
        422,
        `${source}: activations have d_in ${info.dIn} but the run's SAE encodes d_in ${expectedDIn} ` +
          `(shape [${info.nTokens}, ${info.dIn}], expected [n_tokens, ${expectedDIn}])`,
      );
    }
    if (info.totalLength > limitBytes) {
      throw new UploadRejectedError(
        413,
        `${source}: the header describes a file of ${info.totalLength} bytes, over the upload limit of ` +
          `${limitBytes} bytes (UPLOAD_LIMIT_BYTES)`,
      );
    }
    if (declaredLength !== undefined && declaredLength !== info.totalLength) {
      throw new UploadRejectedError(
        400,
        `${source}: Content-Length is ${declaredLength} bytes but the header describes a file of ` +
          `${info.totalLength} bytes (truncated or padded file?)`,
      );
    }
    const elementBytes = info.dtype === 'F32' ? 4 : 2;
    const exponentMask = info.dtype === 'F32' ? 0x7f800000 : info.dtype === 'F16' ? 0x7c00 : 0x7f80;
    if (info.format === 'npy') {
      this.floats = {
        begin: info.headerLength,
        end: info.totalLength,
        elementBytes,
        exponentMask,
        dtype: info.dtype,
      };
    } else {
      // The tensor's own byte range: the file may hold other tensors (prompt_offsets) before or after it.
      const entries = parseSafetensorsHeader(header, source, Infinity).entries;
      const act = entries.find((e) => e.name === ACTIVATIONS_TENSOR)!;
      this.floats = {
        begin: info.headerLength + act.begin,
        end: info.headerLength + act.end,
        elementBytes,
        exponentMask,
        dtype: info.dtype,
      };
      const offsets = entries.find((e) => e.name === PROMPT_OFFSETS_TENSOR);
      if (offsets) {
        this.offsets = {
          begin: info.headerLength + offsets.begin,
          end: info.headerLength + offsets.end,
          width: offsets.dtype === 'I32' ? 4 : 8,
          index: 0,
          prev: 0,
          carry: Buffer.alloc(0),
        };
      }
    }
    this.info = info;
  }

  /** Scans the part of `chunk` (which starts at absolute offset `at`) that falls in the tensors we check. */
  private scan(chunk: Uint8Array, at: number): void {
    const end = at + chunk.byteLength;
    if (this.offsets) {
      const from = Math.max(this.offsets.begin, at);
      const to = Math.min(this.offsets.end, end);
      if (from < to) this.scanOffsets(chunk.subarray(from - at, to - at));
    }
    const f = this.floats!;
    const from = Math.max(f.begin, at);
    const to = Math.min(f.end, end);
    if (from >= to) return;
    let part = Buffer.from(chunk.buffer, chunk.byteOffset + (from - at), to - from);
    if (this.carry.byteLength) part = Buffer.concat([this.carry, part]);
    const whole = part.byteLength - (part.byteLength % f.elementBytes);
    this.carry = Buffer.from(part.subarray(whole));
    if (whole === 0) return;
    // Typed-array views need aligned offsets; an unaligned chunk is copied once.
    let bytes = part.subarray(0, whole);
    if (bytes.byteOffset % f.elementBytes !== 0) bytes = Buffer.from(bytes);
    const firstElement = this.scanned / f.elementBytes;
    const bad =
      f.elementBytes === 4
        ? firstNonFinite32(new Uint32Array(bytes.buffer, bytes.byteOffset, whole / 4), f.exponentMask)
        : firstNonFinite16(new Uint16Array(bytes.buffer, bytes.byteOffset, whole / 2), f.exponentMask);
    if (bad >= 0) this.rejectNonFinite(firstElement + bad, bytes, bad);
    this.scanned += whole;
  }

  private rejectNonFinite(element: number, bytes: Buffer, local: number): never {
    const dIn = this.info!.dIn;
    const token = Math.floor(element / dIn);
    let kind: string;
    const f = this.floats!;
    if (f.elementBytes === 4) {
      kind = String(bytes.readFloatLE(local * 4));
    } else {
      const bits = bytes.readUInt16LE(local * 2);
      const mantissa = f.dtype === 'F16' ? bits & 0x3ff : bits & 0x7f;
      kind = mantissa ? 'NaN' : bits & 0x8000 ? '-Infinity' : 'Infinity';
    }
    throw new UploadRejectedError(
      400,
      `${this.opts.source}: tensor "${ACTIVATIONS_TENSOR}" has ${kind} at token ${token} ` +
        `(element [${token}, ${element % dIn}]); activations must be finite`,
    );
  }

  /** Checks the next bytes of prompt_offsets: starting at 0, non-decreasing, ending at n_tokens. */
  private scanOffsets(part: Uint8Array): void {
    const o = this.offsets!;
    const nTokens = this.info!.nTokens;
    const n = (o.end - o.begin) / o.width;
    const buf = o.carry.byteLength
      ? Buffer.concat([o.carry, part])
      : Buffer.from(part.buffer, part.byteOffset, part.byteLength);
    const whole = buf.byteLength - (buf.byteLength % o.width);
    for (let at = 0; at < whole; at += o.width, o.index++) {
      const p = o.index;
      const v = o.width === 4 ? buf.readInt32LE(at) : Number(buf.readBigInt64LE(at));
      const ok = p === 0 ? v === 0 : v >= o.prev && v <= nTokens;
      if (!ok || (p === n - 1 && v !== nTokens)) {
        throw new UploadRejectedError(
          400,
          `${this.opts.source}: tensor "${PROMPT_OFFSETS_TENSOR}" has ${v} at index ${p}, expected offsets ` +
            `starting at 0, non-decreasing, ending at ${nTokens} (n_tokens)`,
        );
      }
      o.prev = v;
    }
    o.carry = Buffer.from(buf.subarray(whole));
  }
}

function firstNonFinite32(words: Uint32Array, mask: number): number {
  for (let i = 0; i < words.length; i++) if ((words[i] & mask) === mask) return i;
  return -1;
}

function firstNonFinite16(words: Uint16Array, mask: number): number {
  for (let i = 0; i < words.length; i++) if ((words[i] & mask) === mask) return i;
  return -1;
}
