// topk_reduce.wgsl: the statistics of a topk SAE for one chunk of tokens and one column shard, from
// the pre-activations in the scratch buffer and each token's selection (topk_select.wgsl):
// a = h when it survives selection and h > 0, else 0; then sum, active count, max and prompt sums.
// Tiling: one invocation per latent column, looping over the chunk's tokens (consecutive invocations
// read consecutive h), so each latent has one owner and no atomics are needed.
// Bindings: 0 params, 1 h [tokens × hStride], 2 selection [tokens], 3 token→prompt ids [tokens],
//   4 stats [3 × cols], 5 prompt sums [n_prompts × cols].
struct Params {
  tokens: u32,
  cols: u32,
  colBase: u32,
  hStride: u32,
  usePrompts: u32,
  pad0: u32,
  pad1: u32,
  pad2: u32,
}

const NO_PROMPT = 0xffffffffu;

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> h: array<f32>;
@group(0) @binding(2) var<storage, read> sel: array<vec2u>;
@group(0) @binding(3) var<storage, read> tp: array<u32>;
@group(0) @binding(4) var<storage, read_write> st: array<f32>;
@group(0) @binding(5) var<storage, read_write> ps: array<f32>;

fn key(v: f32) -> u32 {
  let b = bitcast<u32>(v);
  return select(b | 0x80000000u, ~b, (b & 0x80000000u) != 0u);
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let j = gid.x;
  let cols = P.cols;
  let jc = min(j, cols - 1u);
  let col = P.colBase + jc;
  var s = 0.0;
  var c = 0.0;
  var mx = 0.0;
  for (var t = 0u; t < P.tokens; t++) {
    let v = h[t * P.hStride + col];
    let kk = key(v);
    let cut = sel[t];
    let kept = kk > cut.x || (kk == cut.x && col <= cut.y);
    let a = select(0.0, v, kept && v > 0.0);
    s += a;
    c += select(0.0, 1.0, a > 0.0);
    mx = max(mx, a);
    if (P.usePrompts != 0u) {
      let p = tp[t];
      if (p != NO_PROMPT && j < cols) { ps[p * cols + j] += a; }
    }
  }
  if (j < cols) {
    st[j] += s;
    st[cols + j] += c;
    st[2u * cols + j] = max(st[2u * cols + j], mx);
  }
}
