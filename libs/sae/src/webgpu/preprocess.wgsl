// preprocess.wgsl: the SAE input x' of each token of a chunk (normalize_activations, then − b_dec),
// written zero-padded to kPad columns for the encode kernel, and x·v̂ of the raw token for every
// watched direction (v̂ = v/‖v‖, precomputed on the host).
// Tiling: one workgroup of WG invocations per token; strided loops over d_in, tree reductions in
// workgroup memory. O(n_tokens · d_in): small next to the encode.
// Bindings: 0 params, 1 raw x [tokens × dIn], 2 b_dec [dIn], 3 unit directions [nDirs × dIn],
//   4 x' [tokens × kPad], 5 projections [n_tokens_total × nDirs] (row tokenBase + t).
struct Params {
  tokens: u32,
  dIn: u32,
  kPad: u32,
  nDirs: u32,
  tokenBase: u32,
  pad0: u32,
  pad1: u32,
  pad2: u32,
}

// 0 none, 1 constant_norm_rescale, 2 layer_norm.
override NORM: u32 = 0u;
override APPLY_B_DEC: bool = false;
const WG = 64u;
const LAYER_NORM_EPS = 1e-5;

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> raw: array<f32>;
@group(0) @binding(2) var<storage, read> bDec: array<f32>;
@group(0) @binding(3) var<storage, read> dirs: array<f32>;
@group(0) @binding(4) var<storage, read_write> xOut: array<f32>;
@group(0) @binding(5) var<storage, read_write> proj: array<f32>;

var<workgroup> red: array<f32, WG>;

// Sum of v over the workgroup; every invocation gets the total.
fn wgSum(v: f32, i: u32) -> f32 {
  red[i] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (i < s) { red[i] += red[i + s]; }
    workgroupBarrier();
  }
  let total = red[0];
  workgroupBarrier();
  return total;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let t = wid.x;
  let i = lid.x;
  let dIn = P.dIn;
  let row = t * dIn;

  for (var d = 0u; d < P.nDirs; d++) {
    var dot = 0.0;
    for (var c = i; c < dIn; c += WG) { dot += raw[row + c] * dirs[d * dIn + c]; }
    let total = wgSum(dot, i);
    if (i == 0u) { proj[(P.tokenBase + t) * P.nDirs + d] = total; }
  }

  var scale = 1.0;
  var shift = 0.0;
  if (NORM == 1u) {
    var sq = 0.0;
    for (var c = i; c < dIn; c += WG) { sq += raw[row + c] * raw[row + c]; }
    let total = wgSum(sq, i);
    // An all-zero token stays zero (as in the CPU reference), instead of 0/0.
    if (total > 0.0) { scale = sqrt(f32(dIn)) / sqrt(total); }
  } else if (NORM == 2u) {
    var s = 0.0;
    for (var c = i; c < dIn; c += WG) { s += raw[row + c]; }
    let mean = wgSum(s, i) / f32(dIn);
    var sq = 0.0;
    for (var c = i; c < dIn; c += WG) { let v = raw[row + c] - mean; sq += v * v; }
    let total = wgSum(sq, i);
    // torch.std: Bessel's correction; 0 for a single feature.
    let sd = select(0.0, sqrt(total / f32(dIn - 1u)), dIn > 1u);
    scale = 1.0 / (sd + LAYER_NORM_EPS);
    shift = mean;
  }

  let base = t * P.kPad;
  for (var c = i; c < P.kPad; c += WG) {
    var v = 0.0;
    if (c < dIn) {
      v = (raw[row + c] - shift) * scale;
      if (APPLY_B_DEC) { v -= bDec[c]; }
    }
    xOut[base + c] = v;
  }
}
