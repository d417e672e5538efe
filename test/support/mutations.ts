// Mutations of valid files for property-based fuzzing (fast-check): byte flips, truncation, insertion,
// safetensors header-length and JSON header edits (dtype, shape, data_offsets, names), .npy dict edits.
// Shared by the parser fuzzing (libs/sae/src/fuzz.spec.ts) and the REST upload fuzzing (test/fuzz).
import fc from 'fast-check';

export type Mutation = (b: Buffer) => Buffer;

// ---- generic byte mutations ------------------------------------------------------------------------
const flips: fc.Arbitrary<Mutation> = fc
  .array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 })
  .map((edits) => (b) => {
    const out = Buffer.from(b);
    for (const [at, v] of edits) if (out.length) out[at % out.length] = v;
    return out;
  });
const truncate: fc.Arbitrary<Mutation> = fc.nat().map((n) => (b) => b.subarray(0, n % (b.length + 1)));
const insert: fc.Arbitrary<Mutation> = fc
  .tuple(fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 16 }))
  .map(([at, bytes]) => (b) => {
    const p = at % (b.length + 1);
    return Buffer.concat([b.subarray(0, p), bytes, b.subarray(p)]);
  });
const append: fc.Arbitrary<Mutation> = fc
  .uint8Array({ minLength: 1, maxLength: 64 })
  .map((bytes) => (b) => Buffer.concat([b, bytes]));
export const bytesMutation = fc.oneof(flips, truncate, insert, append);

// ---- safetensors header edits -----------------------------------------------------------------------
/** The 8-byte header length: any u64, or the true one give or take a few. */
export const headerLength: fc.Arbitrary<Mutation> = fc
  .oneof(
    fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
    fc.constantFrom(0n, 1n, 2n, 99_999_999n, 100_000_000n, 100_000_001n, 2n ** 53n, 2n ** 63n),
    fc.integer({ min: -16, max: 16 }).map((d) => ({ delta: d })),
  )
  .map((v) => (b) => {
    if (b.length < 8) return b;
    const out = Buffer.from(b);
    const n = typeof v === 'bigint' ? v : out.readBigUInt64LE(0) + BigInt(v.delta);
    out.writeBigUInt64LE(((n % 2n ** 64n) + 2n ** 64n) % 2n ** 64n, 0);
    return out;
  });

const DTYPES = ['F32', 'F16', 'BF16', 'F64', 'I32', 'I64', 'U8', 'I8', 'BOOL', 'F8_E4M3', 'f32', '', 'X'];
export const jsonValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.integer(),
  fc.double(),
  fc.string({ maxLength: 8 }),
  fc.constant(null),
  fc.boolean(),
  fc.constantFrom(...DTYPES),
  fc.constantFrom(Number.MAX_SAFE_INTEGER, 2 ** 53 + 2, 2 ** 60, 1e300, -1, 0.5, -0),
  fc.array(
    fc.oneof(
      fc.integer({ min: -3, max: 300 }),
      fc.constantFrom(2 ** 31, 2 ** 32, 2 ** 40, Number.MAX_SAFE_INTEGER, 1e20, 0.5),
    ),
    { maxLength: 4 },
  ),
  fc.dictionary(fc.string({ maxLength: 6 }), fc.oneof(fc.string({ maxLength: 6 }), fc.integer()), {
    maxKeys: 3,
  }),
);

/** Edits the JSON header: a field of one tensor, a tensor's name, a whole entry, or __metadata__. */
export const jsonEdit: fc.Arbitrary<Mutation> = fc
  .tuple(
    fc.constantFrom(
      'dtype',
      'shape',
      'data_offsets',
      'drop-field',
      'rename',
      'entry',
      'metadata',
      'whole',
      'add',
    ),
    fc.nat(),
    jsonValue,
    fc.string({ maxLength: 20 }),
  )
  .map(([kind, pick, value, name]) => (b) => {
    if (b.length < 8) return b;
    const length = Number(b.readBigUInt64LE(0));
    if (length > b.length - 8) return b;
    let header: Record<string, unknown>;
    try {
      header = JSON.parse(b.subarray(8, 8 + length).toString('utf8')) as Record<string, unknown>;
    } catch {
      return b;
    }
    if (typeof header !== 'object' || header === null || Array.isArray(header)) return b;
    const names = Object.keys(header).filter((k) => k !== '__metadata__');
    const target = names.length ? names[pick % names.length] : 'activations';
    const entry = (header[target] ?? {}) as Record<string, unknown>;
    let out: unknown = header;
    switch (kind) {
      case 'dtype':
      case 'shape':
      case 'data_offsets':
        header[target] = { ...entry, [kind]: value };
        break;
      case 'drop-field': {
        const fields = ['dtype', 'shape', 'data_offsets'];
        const copy = { ...entry };
        delete copy[fields[pick % 3]];
        header[target] = copy;
        break;
      }
      case 'rename':
        delete header[target];
        header[name] = entry;
        break;
      case 'entry':
        header[target] = value;
        break;
      case 'metadata':
        header.__metadata__ = value;
        break;
      case 'whole':
        out = value;
        break;
      case 'add':
        header[name] = { dtype: 'F32', shape: [pick % 5], data_offsets: [0, (pick % 5) * 4] };
        break;
    }
    const json = Buffer.from(JSON.stringify(out) ?? 'null', 'utf8');
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(json.length));
    return Buffer.concat([len, json, b.subarray(8 + length)]);
  });

// ---- .npy header edits -------------------------------------------------------------------------------
export const npyEdit: fc.Arbitrary<Mutation> = fc
  .tuple(
    fc.constantFrom("'<f4'", "'<f2'", "'>f4'", "'<f8'", "'|O'", "'<i4'", "[('a', '<f4')]", "''"),
    fc.array(fc.oneof(fc.integer({ min: -2, max: 100 }), fc.constantFrom(2 ** 31, 2 ** 53, 1e21)), {
      maxLength: 4,
    }),
    fc.constantFrom('False', 'True', 'None'),
    fc.constantFrom(1, 2, 3, 0, 4, 255),
    fc.boolean(),
  )
  .map(([descr, shape, fortran, version, dropShape]) => (b) => {
    if (b.length < 12) return b;
    const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
    const dict = `{'descr': ${descr}, 'fortran_order': ${fortran}, ${dropShape ? '' : `'shape': ${shapeText}, `}}`;
    const headerStart = b[6] === 1 ? 10 : 12;
    const oldLength = b[6] === 1 ? b.readUInt16LE(8) : b.readUInt32LE(8);
    const body = Buffer.from(dict + '\n', 'latin1');
    const prefix = Buffer.alloc(version === 1 ? 10 : 12);
    b.copy(prefix, 0, 0, 6);
    prefix[6] = version;
    if (version === 1) prefix.writeUInt16LE(body.length & 0xffff, 8);
    else prefix.writeUInt32LE(body.length, 8);
    return Buffer.concat([prefix, body, b.subarray(headerStart + oldLength)]);
  });

export const npyLength: fc.Arbitrary<Mutation> = fc.integer({ min: 0, max: 0xffffffff }).map((n) => (b) => {
  if (b.length < 12) return b;
  const out = Buffer.from(b);
  if (out[6] === 1) out.writeUInt16LE(n & 0xffff, 8);
  else out.writeUInt32LE(n, 8);
  return out;
});

export function mutations(...arbs: fc.Arbitrary<Mutation>[]): fc.Arbitrary<Mutation> {
  return fc.array(fc.oneof(...arbs), { minLength: 1, maxLength: 3 }).map((ms) => (b) => {
    let out = b;
    for (const m of ms) out = m(out);
    return out;
  });
}
