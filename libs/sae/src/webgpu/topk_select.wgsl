// topk_select.wgsl: per token, which pre-activations survive top-k: the k-th largest value (as an
// order-preserving u32 key) and the highest latent index kept among values equal to it. Ties at the
// k-th value keep the lowest indices, as the CPU reference does, so exactly min(k, d_sae) survive.
// Method: MSB-first radix select over the keys, 4 passes of 8 bits, a 256-bin histogram in workgroup
// memory per pass (recounting the row each pass, h is in the scratch buffer); then a workgroup prefix
// count of the ties finds the cut index.
// Tiling: one workgroup of 256 invocations per token, each scanning a strided slice of the row.
// Bindings: 0 params, 1 h [tokens × dSae], 2 out [tokens] vec2u(key of k-th value, cut index).
struct Params {
  tokens: u32,
  dSae: u32,
  k: u32,
  pad0: u32,
}

const WG = 256u;

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> h: array<f32>;
@group(0) @binding(2) var<storage, read_write> sel: array<vec2u>;

var<workgroup> hist: array<atomic<u32>, 256>;
var<workgroup> counts: array<u32, WG>;
var<workgroup> shared2: vec2u;

// Larger floats get larger keys: flip all bits of negatives, the sign bit of non-negatives.
fn key(v: f32) -> u32 {
  let b = bitcast<u32>(v);
  return select(b | 0x80000000u, ~b, (b & 0x80000000u) != 0u);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let t = wid.x;
  let i = lid.x;
  let n = P.dSae;
  let row = t * n;
  if (P.k >= n) {
    // Everything survives selection.
    if (i == 0u) { sel[t] = vec2u(0u, 0xffffffffu); }
    return;
  }
  var prefix = 0u;
  var mask = 0u;
  var remaining = P.k; // how many of the elements matching prefix (from the top) are still wanted
  for (var p = 0u; p < 4u; p++) {
    let shift = 24u - p * 8u;
    atomicStore(&hist[i], 0u);
    workgroupBarrier();
    for (var j = i; j < n; j += WG) {
      let kk = key(h[row + j]);
      if ((kk & mask) == prefix) { atomicAdd(&hist[(kk >> shift) & 0xffu], 1u); }
    }
    workgroupBarrier();
    if (i == 0u) {
      var r = remaining;
      var digit = 255u;
      loop {
        let c = atomicLoad(&hist[digit]);
        if (c >= r || digit == 0u) { break; }
        r -= c;
        digit -= 1u;
      }
      shared2 = vec2u(digit, r);
    }
    workgroupBarrier();
    let found = shared2;
    prefix |= found.x << shift;
    mask |= 0xffu << shift;
    remaining = found.y;
    workgroupBarrier();
  }
  // prefix is the key of the k-th largest; `remaining` values equal to it are kept, lowest index first.
  let seg = (n + WG - 1u) / WG;
  let lo = min(i * seg, n);
  let hi = min(lo + seg, n);
  var ties = 0u;
  for (var j = lo; j < hi; j++) { if (key(h[row + j]) == prefix) { ties++; } }
  counts[i] = ties;
  workgroupBarrier();
  if (i == 0u) {
    var before = 0u;
    for (var s = 0u; s < WG; s++) {
      let c = counts[s];
      counts[s] = before;
      before += c;
    }
  }
  workgroupBarrier();
  let start = counts[i];
  if (start < remaining && start + ties >= remaining) {
    var seen = start;
    for (var j = lo; j < hi; j++) {
      if (key(h[row + j]) == prefix) {
        seen++;
        if (seen == remaining) { sel[t] = vec2u(prefix, j); break; }
      }
    }
  }
}
