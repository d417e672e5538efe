// encode.wgsl: h = x'·W_enc + b_enc for one chunk of tokens and one column shard of W_enc, then either
// (stats mode) the activation function and the per-latent reductions, fused, so h never leaves
// registers, or (store mode, topk) h written to a chunk-sized scratch buffer for the top-k selection.
//
// A template: encode-kernel.ts fills the {{…}} slots with code unrolled for one register block.
// Tiling: a workgroup owns WG·N latent columns and loops over every token of the chunk, so no two
//   workgroups touch the same latent and the statistics need no atomics. Invocation i owns columns
//   base + i + n·WG (n < N): consecutive invocations read consecutive W_enc addresses. Each step
//   computes an M tokens × N latents block in registers, over d_in in steps of KB rows.
//   With subgroups, lane l loads x'[t][k + l % KB] once and subgroupBroadcast hands each value to all
//   lanes (a load on lavapipe costs ~8 instructions per lane, a broadcast ~3).
//   Texture variants read W_enc from an rgba32float/rgba16float texture in the blocked layout of
//   encode-kernel.ts TEXTURE_LAYOUT (each block of 8 column quads' rows contiguous): an invocation owns
//   column quads (vec4), and lavapipe fetches texels 16 bytes per lane instead of element by element
//   with a bounds check each. xTexture variants also read x' from a texture [kPad/4 × tokens]: lanes
//   0..7 load one texel each (32 values of a token's row) and the broadcasts share them, KB = 32.
// Bindings: 0 params (uniform), 1 x' [tokens × kPad] (buffer, or texture), 2 W shard (f32 or f16
//   buffer [kPad × cols], or texture), 3 bt [2 × cols] (b_enc, jumprelu threshold); stats mode:
//   4 token→prompt ids [tokens], 5 stats [3 × cols] (sum, active count, max), 6 prompt sums
//   [n_prompts × cols]; store mode: 4 h [tokens × hStride] (columns colBase + j).
{{ENABLES}}
struct Params {
  tokens: u32,
  cols: u32,
  colBase: u32,
  kPad: u32,
  hStride: u32,
  usePrompts: u32,
  pad0: u32,
  pad1: u32,
}

@group(0) @binding(0) var<uniform> P: Params;
{{XBINDING}}
{{WBINDING}}
@group(0) @binding(3) var<storage, read> bt: array<f32>;
{{OUT_BINDINGS}}

const NO_PROMPT = 0xffffffffu;

// The architecture's activation function on a pre-activation h of column j (stats mode only).
fn act(h: f32, j: u32) -> f32 {
  {{ACT}}
}

@compute @workgroup_size({{WG}})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u{{SG_BUILTIN}}) {
  let cols = P.cols;
  let kPad = P.kPad;
  // Columns past the shard are clamped for loads (always in bounds, no divergent branch) and
  // masked for writes.
  {{COLS}}
  {{STATS_INIT}}
  for (var t0 = 0u; t0 < P.tokens; t0 += {{M}}u) {
    {{TOKENS}}
    {{ACC_INIT}}
    for (var k = 0u; k < kPad; k += {{KB}}u) {
      {{INNER}}
    }
    {{EPILOGUE}}
  }
  {{STATS_FLUSH}}
}
