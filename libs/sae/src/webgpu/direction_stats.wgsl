// direction_stats.wgsl: sums of the per-token direction projections x·v̂ (preprocess.wgsl) over all
// tokens (row 0) and over each prompt (row 1 + p); the host divides by the token counts.
// Tiling: one invocation per (row, direction), looping over that row's tokens. Tiny.
// Bindings: 0 params, 1 projections [n_tokens × nDirs], 2 prompt offsets [n_prompts + 1],
//   3 out [(n_prompts + 1) × nDirs].
struct Params {
  nTokens: u32,
  nDirs: u32,
  nPrompts: u32,
  pad0: u32,
}

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> proj: array<f32>;
@group(0) @binding(2) var<storage, read> offsets: array<u32>;
@group(0) @binding(3) var<storage, read_write> sums: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x;
  if (i >= (P.nPrompts + 1u) * P.nDirs) { return; }
  let r = i / P.nDirs;
  let d = i % P.nDirs;
  var lo = 0u;
  var hi = P.nTokens;
  if (r > 0u) {
    lo = offsets[r - 1u];
    hi = offsets[r];
  }
  var s = 0.0;
  for (var t = lo; t < hi; t++) { s += proj[t * P.nDirs + d]; }
  sums[i] = s;
}
