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
  /** Workgroup size (invocations, each owning N latent columns). */
  wg: number;
  /** Latent columns per invocation, strided by wg. */
  n: number;
  /** Tokens per register block. */
  m: number;
  /** Rows of W_enc per unrolled step; kPad is a multiple of every variant's kb. */
  kb: number;
  /** Share x' values across lanes with subgroupBroadcast (needs subgroups, subgroup size ≥ kb). */
  subgroups: boolean;
}

/** Every variant's kb divides this: x' rows and W_enc shards are zero-padded to a multiple of it. */
export const K_ALIGN = 8;

export const ENCODE_VARIANTS: readonly EncodeVariant[] = [
  { name: 'sg-w8-n1-m16', wg: 8, n: 1, m: 16, kb: 8, subgroups: true },
  { name: 'sg-w8-n2-m8', wg: 8, n: 2, m: 8, kb: 8, subgroups: true },
  { name: 'sg-w64-n1-m16', wg: 64, n: 1, m: 16, kb: 8, subgroups: true },
  { name: 'plain-w8-n2-m4', wg: 8, n: 2, m: 4, kb: 4, subgroups: false },
  { name: 'plain-w64-n1-m8', wg: 64, n: 1, m: 8, kb: 4, subgroups: false },
];

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
  const { wg, n, m, kb, subgroups } = variant;
  const N = range(n);
  const M = range(m);
  const slots: Record<string, string> = {};
  slots.ENABLES = [subgroups ? 'enable subgroups;' : '', f16 ? 'enable f16;' : ''].join('\n');
  slots.WTYPE = f16 ? 'f16' : 'f32';
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
  slots.COLS = N.map(
    (i) =>
      `let j${i} = wid.x * ${wg * n}u + lid.x + ${i * wg}u; let jc${i} = min(j${i}, cols - 1u); let b${i} = bt[jc${i}];`,
  ).join('\n  ');
  slots.STATS_INIT =
    mode === 'stats' ? N.map((i) => `var s${i} = 0.0; var c${i} = 0.0; var mx${i} = 0.0;`).join('\n  ') : '';
  slots.TOKENS = M.map((t) => `let xo${t} = min(t0 + ${t}u, P.tokens - 1u) * kPad;`).join('\n    ');
  slots.ACC_INIT = M.flatMap((t) => N.map((i) => `var a${t}_${i} = 0.0;`)).join(' ');

  // One step of kb rows: per-step partial sums are SSA chains, added to the loop-carried accumulators
  // once per step (lavapipe blends every loop-carried write with the execution mask).
  const inner: string[] = [];
  if (subgroups) inner.push(...M.map((t) => `let xl${t} = x[xo${t} + k + sid % ${kb}u];`));
  for (let q = 0; q < kb; q++) {
    inner.push(
      N.map(
        (i) => `let w${i}_${q} = ${f16 ? 'f32(' : ''}w[(k + ${q}u) * cols + jc${i}]${f16 ? ')' : ''};`,
      ).join(' '),
    );
    for (const t of M) {
      const xv = subgroups ? `subgroupBroadcast(xl${t}, ${q}u)` : `x[xo${t} + k + ${q}u]`;
      const terms = N.map((i) =>
        q === 0
          ? `var p${t}_${i} = xb${t}_${q} * w${i}_${q};`
          : `p${t}_${i} = fma(xb${t}_${q}, w${i}_${q}, p${t}_${i});`,
      );
      inner.push(`let xb${t}_${q} = ${xv}; ${terms.join(' ')}`);
    }
  }
  inner.push(M.flatMap((t) => N.map((i) => `a${t}_${i} += p${t}_${i};`)).join(' '));
  slots.INNER = inner.join('\n      ');

  const epilogue: string[] = [];
  for (const t of M) {
    const body: string[] = [];
    if (mode === 'stats') {
      body.push(`let pid = select(NO_PROMPT, tp[t0 + ${t}u], P.usePrompts != 0u);`);
      for (const i of N) {
        body.push(
          `{ let v = act(a${t}_${i} + b${i}, jc${i}); s${i} += v; c${i} += select(0.0, 1.0, v > 0.0); mx${i} = max(mx${i}, v);` +
            ` if (pid != NO_PROMPT && j${i} < cols) { ps[pid * cols + j${i}] += v; } }`,
        );
      }
    } else {
      for (const i of N) {
        body.push(
          `if (j${i} < cols) { hOut[(t0 + ${t}u) * P.hStride + P.colBase + j${i}] = a${t}_${i} + b${i}; }`,
        );
      }
    }
    epilogue.push(`if (t0 + ${t}u < P.tokens) {\n      ${body.join('\n      ')}\n    }`);
  }
  slots.EPILOGUE = epilogue.join('\n    ');
  slots.STATS_FLUSH =
    mode === 'stats'
      ? N.map(
          (i) =>
            `if (j${i} < cols) { st[j${i}] += s${i}; st[cols + j${i}] += c${i}; st[2u * cols + j${i}] = max(st[2u * cols + j${i}], mx${i}); }`,
        ).join('\n  ')
      : '';

  return template.replace(/\{\{([A-Z_]+)\}\}/g, (_, key: string) => {
    if (!(key in slots)) throw new Error(`encode.wgsl: no value for {{${key}}}`);
    return slots[key];
  });
}
