/**
 * Fills the encode.wgsl template for one tile configuration. The register block (M tokens × N
 * latents per invocation, KB rows of W_enc per step) is unrolled in the generated source rather than
 * left to loops over private arrays: lavapipe keeps unrolled scalars in SIMD registers, while an
 * indexed private array goes through memory.
 */
import { readFileSync } from 'node:fs';
import { type SaeArchitecture } from '../types.js';

/** One candidate tile configuration; the autotune picks among these per adapter and shape class. */
export interface EncodeVariant {
  name: string;
  /** Workgroup size (invocations, each owning N latent columns, or N column quads with a texture). */
  wg: number;
  /** Latent columns (quads of columns for texture variants) per invocation, strided by wg. */
  n: number;
  /** Tokens per register block. */
  m: number;
  /** Rows of W_enc per unrolled step; kPad is a multiple of every variant's kb. */
  kb: number;
  /** Share x' values across lanes with subgroupBroadcast (needs subgroups, subgroup size ≥ kb). */
  subgroups: boolean;
  /** W_enc in a 2D texture (rgba32float, or rgba16float for f16 weights) instead of a storage buffer. */
  texture: boolean;
  /** Read the texture as a read-only storage texture rather than a sampled one (faster on lavapipe). */
  storageTexture?: boolean;
  /**
   * Read x' from an rgba32float read-only storage texture [kPad/4 × tokens]: per step each of lanes
   * 0..7 loads one texel (4 values) of a token's row and subgroupBroadcast shares them, so kb = 32.
   * On lavapipe a texel load costs about what one lane-wise f32 load from a buffer costs.
   */
  xTexture?: boolean;
}

/**
 * x' rows and W_enc shards are zero-padded to a multiple of this: every variant's kb divides it, and
 * a row of x' is a multiple of 256 bytes, as copyBufferToTexture requires of the x' texture.
 */
export const K_ALIGN = 64;

/** d_in zero-padded to K_ALIGN: the row length of x' and the row count of every W_enc shard. */
export function padK(dIn: number): number {
  return Math.ceil(dIn / K_ALIGN) * K_ALIGN;
}

/** Ordered by throughput measured on lavapipe (docs/benchmarks.md); the autotune breaks ties by order. */
export const ENCODE_VARIANTS: readonly EncodeVariant[] = [
  // x' and W_enc in read-only storage textures: the fastest on lavapipe by far.
  { name: 'stex-xt-w8-n1-m16', ...xtex(8, 16) },
  // The same with 64-invocation workgroups (wg 8 leaves most of a 32-lane warp idle on a GPU).
  { name: 'stex-xt-w64-n1-m16', ...xtex(64, 16) },
  { name: 'stex-sg-w8-n1-m8', ...stex(8, 8) },
  { name: 'stex-sg-w64-n1-m8', ...stex(64, 8) },
  { name: 'tex-sg-w8-n1-m16', wg: 8, n: 1, m: 16, kb: 8, subgroups: true, texture: true },
  { name: 'sg-w8-n1-m16', wg: 8, n: 1, m: 16, kb: 8, subgroups: true, texture: false },
  { name: 'sg-w64-n1-m16', wg: 64, n: 1, m: 16, kb: 8, subgroups: true, texture: false },
  // Without subgroups.
  { name: 'tex-w8-n1-m4', wg: 8, n: 1, m: 4, kb: 4, subgroups: false, texture: true },
  { name: 'plain-w8-n2-m4', wg: 8, n: 2, m: 4, kb: 4, subgroups: false, texture: false },
  { name: 'plain-w64-n1-m8', wg: 64, n: 1, m: 8, kb: 4, subgroups: false, texture: false },
];

function stex(wg: number, m: number): Omit<EncodeVariant, 'name'> {
  return { wg, n: 1, m, kb: 8, subgroups: true, texture: true, storageTexture: true };
}

function xtex(wg: number, m: number): Omit<EncodeVariant, 'name'> {
  return { ...stex(wg, m), kb: 32, xTexture: true };
}

/**
 * How texture variants lay W_enc out. Column quads (one rgba texel = 4 latents) are grouped into blocks
 * of 8 quads; a block's kPad rows of 8 texels are stored one after the other (128 contiguous bytes per
 * row in f32), and those "block rows" fill texture rows of 2^rowsLog2 block rows each (8192 texels,
 * the smallest maxTextureDimension2D WebGPU allows). Row k of quad q is block row (q >> 3)·kPad + k
 * (the generated WGSL shifts by 3: blockQuads is not a free parameter).
 * Why: in the plain [kPad × cols/4] layout a workgroup walking down its columns strides by a whole
 * texture row, a power of two for power-of-two d_sae, so every row lands in the same few cache sets;
 * on lavapipe the blocked layout measured 1.8× faster (docs/kernels.md).
 */
export const TEXTURE_LAYOUT = { blockQuads: 8, rowsLog2: 10 } as const;

/** Texture size [width, height] in texels for a shard of `cols` latents (see TEXTURE_LAYOUT). */
export function textureShape(cols: number, kPad: number): [number, number] {
  const { blockQuads, rowsLog2 } = TEXTURE_LAYOUT;
  const blockRows = Math.ceil(Math.ceil(cols / 4) / blockQuads) * kPad;
  return [blockQuads << rowsLog2, Math.max(1, Math.ceil(blockRows / (1 << rowsLog2)))];
}

/** Most latents one texture shard can hold when its height is at most maxDimension texels. */
export function maxTextureColumns(kPad: number, maxDimension: number): number {
  const { blockQuads, rowsLog2 } = TEXTURE_LAYOUT;
  return Math.floor((maxDimension << rowsLog2) / kPad) * blockQuads * 4;
}

/** Columns an invocation's unit covers: 4 (a texel) for texture variants, else 1. */
export function columnsPerUnit(v: EncodeVariant): number {
  return v.texture ? 4 : 1;
}

export type EncodeMode = 'stats' | 'store';

export interface EncodeKernelSpec {
  variant: EncodeVariant;
  mode: EncodeMode;
  architecture: SaeArchitecture;
  f16: boolean;
}

let template: string | undefined;

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

export function encodeKernelSource({ variant, mode, architecture, f16 }: EncodeKernelSpec): string {
  template ??= readFileSync(new URL('./encode.wgsl', import.meta.url), 'utf8');
  const { wg, n, m, kb, subgroups, texture, xTexture } = variant;
  if (xTexture && (!subgroups || kb !== 32))
    throw new Error(`encode variant ${variant.name}: xTexture needs subgroups and kb = 32`);
  const N = range(n);
  const M = range(m);
  // Texture variants work on column quads: every value below is a vec4 of 4 adjacent latents.
  const V = texture ? 'vec4f' : 'f32';
  const comps = texture ? ['.x', '.y', '.z', '.w'] : [''];
  const slots: Record<string, string> = {};
  slots.ENABLES = [subgroups ? 'enable subgroups;' : '', f16 && !texture ? 'enable f16;' : ''].join('\n');
  slots.WBINDING = variant.storageTexture
    ? `@group(0) @binding(2) var w: texture_storage_2d<${f16 ? 'rgba16float' : 'rgba32float'}, read>;`
    : texture
      ? '@group(0) @binding(2) var w: texture_2d<f32>;'
      : `@group(0) @binding(2) var<storage, read> w: array<${f16 ? 'f16' : 'f32'}>;`;
  slots.XBINDING = xTexture
    ? '@group(0) @binding(1) var xt: texture_storage_2d<rgba32float, read>;'
    : '@group(0) @binding(1) var<storage, read> x: array<f32>;';
  slots.WG = String(wg);
  slots.M = String(m);
  slots.KB = String(kb);
  slots.SG_BUILTIN = subgroups ? ', @builtin(subgroup_invocation_id) sid: u32' : '';
  slots.OUT_BINDINGS =
    mode === 'stats'
      ? [
          '@group(0) @binding(4) var<storage, read> tp: array<u32>;',
          '@group(0) @binding(5) var<storage, read_write> st: array<f32>;',
          '@group(0) @binding(6) var<storage, read_write> ps: array<f32>;',
        ].join('\n')
      : '@group(0) @binding(4) var<storage, read_write> hOut: array<f32>;';
  slots.ACT =
    mode === 'store' || architecture === 'topk'
      ? 'return h;'
      : architecture === 'jumprelu'
        ? 'return select(0.0, h, h > 0.0 && h > bt[P.cols + j]);'
        : 'return select(0.0, h, h > 0.0);';
  // Column j{i}{c} of unit i (component c); jc… clamped into the shard for loads.
  const cols: string[] = [];
  for (const i of N) {
    if (texture) {
      cols.push(
        `let q${i} = wid.x * ${wg * n}u + lid.x + ${i * wg}u; let qc${i} = min(q${i}, (cols + 3u) / 4u - 1u);`,
        `let wr${i} = (qc${i} >> 3u) * kPad; let wu${i} = qc${i} & 7u;`,
      );
      for (let c = 0; c < 4; c++)
        cols.push(`let j${i}_${c} = q${i} * 4u + ${c}u; let jc${i}_${c} = min(j${i}_${c}, cols - 1u);`);
      cols.push(`let b${i} = vec4f(${[0, 1, 2, 3].map((c) => `bt[jc${i}_${c}]`).join(', ')});`);
    } else {
      cols.push(
        `let j${i}_0 = wid.x * ${wg * n}u + lid.x + ${i * wg}u; let jc${i}_0 = min(j${i}_0, cols - 1u); let b${i} = bt[jc${i}_0];`,
      );
    }
  }
  slots.COLS = cols.join('\n  ');
  const C = range(comps.length);
  slots.STATS_INIT =
    mode === 'stats'
      ? N.flatMap((i) =>
          C.map((c) => `var s${i}_${c} = 0.0; var c${i}_${c} = 0.0; var mx${i}_${c} = 0.0;`),
        ).join('\n  ')
      : '';
  slots.TOKENS = M.map((t) =>
    xTexture
      ? `let xr${t} = min(t0 + ${t}u, P.tokens - 1u);`
      : `let xo${t} = min(t0 + ${t}u, P.tokens - 1u) * kPad;`,
  ).join('\n    ');
  slots.ACC_INIT = M.flatMap((t) => N.map((i) => `var a${t}_${i} = ${V}(0.0);`)).join(' ');

  // One step of kb rows: per-step partial sums are SSA chains that start from the loop-carried
  // accumulators and are written back once per step (lavapipe blends every loop-carried write with the
  // execution mask; starting from the accumulator keeps one set of values live, not two).
  const inner: string[] = [];
  if (xTexture)
    inner.push(...M.map((t) => `let xl${t} = textureLoad(xt, vec2u(k / 4u + (sid & 7u), xr${t}));`));
  else if (subgroups) inner.push(...M.map((t) => `let xl${t} = x[xo${t} + k + sid % ${kb}u];`));
  // Texture variants: the step's kb block rows share a texture row (kb divides 2^rowsLog2).
  const { rowsLog2 } = TEXTURE_LAYOUT;
  if (texture)
    inner.push(
      ...N.map(
        (i) =>
          `let r${i} = wr${i} + k; let wy${i} = r${i} >> ${rowsLog2}u; let wx${i} = ((r${i} & ${(1 << rowsLog2) - 1}u) << 3u) | wu${i};`,
      ),
    );
  const wLoad = (i: number, q: number) =>
    texture
      ? `textureLoad(w, vec2u(wx${i} + ${q * 8}u, wy${i})${variant.storageTexture ? '' : ', 0'})`
      : `${f16 ? 'f32(' : ''}w[(k + ${q}u) * cols + jc${i}_0]${f16 ? ')' : ''}`;
  for (let q = 0; q < kb; q++) {
    inner.push(N.map((i) => `let w${i}_${q} = ${wLoad(i, q)};`).join(' '));
    for (const t of M) {
      const xv = xTexture
        ? `subgroupBroadcast(xl${t}${['.x', '.y', '.z', '.w'][q % 4]}, ${q >> 2}u)`
        : subgroups
          ? `subgroupBroadcast(xl${t}, ${q}u)`
          : `x[xo${t} + k + ${q}u]`;
      const xs = texture ? `${V}(xb${t}_${q})` : `xb${t}_${q}`;
      const terms = N.map((i) =>
        q === 0
          ? `var p${t}_${i} = fma(${xs}, w${i}_${q}, a${t}_${i});`
          : `p${t}_${i} = fma(${xs}, w${i}_${q}, p${t}_${i});`,
      );
      inner.push(`let xb${t}_${q} = ${xv}; ${terms.join(' ')}`);
    }
  }
  inner.push(M.flatMap((t) => N.map((i) => `a${t}_${i} = p${t}_${i};`)).join(' '));
  slots.INNER = inner.join('\n      ');

  const epilogue: string[] = [];
  for (const t of M) {
    const body: string[] = [];
    if (mode === 'stats') body.push(`let pid = select(NO_PROMPT, tp[t0 + ${t}u], P.usePrompts != 0u);`);
    for (const i of N) {
      body.push(`let h${i} = a${t}_${i} + b${i};`);
      for (const c of C) {
        const h = `h${i}${comps[c]}`;
        const j = `j${i}_${c}`;
        body.push(
          mode === 'stats'
            ? `{ let v = act(${h}, jc${i}_${c}); s${i}_${c} += v; c${i}_${c} += select(0.0, 1.0, v > 0.0); mx${i}_${c} = max(mx${i}_${c}, v);` +
                ` if (pid != NO_PROMPT && ${j} < cols) { ps[pid * cols + ${j}] += v; } }`
            : `if (${j} < cols) { hOut[(t0 + ${t}u) * P.hStride + P.colBase + ${j}] = ${h}; }`,
        );
      }
    }
    epilogue.push(`if (t0 + ${t}u < P.tokens) {\n      ${body.join('\n      ')}\n    }`);
  }
  slots.EPILOGUE = epilogue.join('\n    ');
  slots.STATS_FLUSH =
    mode === 'stats'
      ? N.flatMap((i) =>
          C.map((c) => {
            const j = `j${i}_${c}`;
            const v = `${i}_${c}`;
            return `if (${j} < cols) { st[${j}] += s${v}; st[cols + ${j}] += c${v}; st[2u * cols + ${j}] = max(st[2u * cols + ${j}], mx${v}); }`;
          }),
        ).join('\n  ')
      : '';

  return template.replace(/\{\{([A-Z_]+)\}\}/g, (_, key: string) => {
    if (!(key in slots)) throw new Error(`encode.wgsl: no value for {{${key}}}`);
    return slots[key];
  });
}
