import assert from 'node:assert/strict';
import { test } from 'node:test';
import { gpuOrSkip } from '../support/gpu.js';

// The smallest proof that WGSL runs on this machine's adapter: y = relu(W·x + b) for a few rows,
// checked against the same computation in plain TypeScript.
const SHADER = /* wgsl */ `
@group(0) @binding(0) var<storage, read> w: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
override COLS: u32;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let row = gid.x;
  if (row >= arrayLength(&y)) { return; }
  var acc = b[row];
  for (var c = 0u; c < COLS; c++) { acc += w[row * COLS + c] * x[c]; }
  y[row] = max(acc, 0.0);
}`;

test('a WGSL compute shader on the WebGPU adapter matches the CPU', async (t) => {
  const gpu = await gpuOrSkip(t);
  if (!gpu) return;
  const { device } = gpu;
  try {
    const rows = 300;
    const cols = 37;
    let seed = 7;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 2 - 1;
    const w = Float32Array.from({ length: rows * cols }, rand);
    const x = Float32Array.from({ length: cols }, rand);
    const b = Float32Array.from({ length: rows }, rand);

    const upload = (data: Float32Array) => {
      const buf = device.createBuffer({
        size: data.byteLength,
        usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST,
      });
      device.queue.writeBuffer(buf, 0, data);
      return buf;
    };
    const out = device.createBuffer({
      size: rows * 4,
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC,
    });
    const readback = device.createBuffer({
      size: rows * 4,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    const pipeline = device.createComputePipeline({
      layout: 'auto',
      compute: {
        module: device.createShaderModule({ code: SHADER }),
        entryPoint: 'main',
        constants: { COLS: cols },
      },
    });
    const bindGroup = device.createBindGroup({
      layout: pipeline.getBindGroupLayout(0),
      entries: [upload(w), upload(x), upload(b), out].map((buffer, binding) => ({
        binding,
        resource: { buffer },
      })),
    });
    const encoder = device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(Math.ceil(rows / 64));
    pass.end();
    encoder.copyBufferToBuffer(out, 0, readback, 0, rows * 4);
    device.queue.submit([encoder.finish()]);
    await readback.mapAsync(GPUMapMode.READ);
    const gpuOut = new Float32Array(readback.getMappedRange().slice(0));
    readback.unmap();

    for (let r = 0; r < rows; r++) {
      let acc = b[r];
      for (let c = 0; c < cols; c++) acc += w[r * cols + c] * x[c];
      const expected = Math.max(acc, 0);
      assert.ok(
        Math.abs(gpuOut[r] - expected) <= 1e-5 * Math.max(1, Math.abs(expected)),
        `row ${r}: ${gpuOut[r]} vs ${expected}`,
      );
    }
    assert.ok(gpuOut.some((v) => v > 0) && gpuOut.some((v) => v === 0), 'the ReLU saw both signs');
  } finally {
    device.destroy();
  }
});
