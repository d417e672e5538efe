/**
 * The WebGPU encode backend: WGSL kernels (encode.wgsl and friends) run through Dawn, on a real GPU
 * or on Mesa lavapipe. Only the statistics come back to the host; the dense encoding exists on the
 * device at most one chunk of tokens at a time (topk), otherwise only in registers.
 *
 * Per encode: for each chunk of tokens, preprocess (normalisation, b_dec, direction projections), then
 * per W_enc column shard either the fused encode+statistics kernel, or for topk: encode into a chunk
 * scratch buffer, per-token top-k selection on the device, statistics from the scratch.
 */
import { readFileSync } from 'node:fs';
import { checkEncodeInputs } from '../encode-inputs.js';
import { floatToHalfBits } from '../formats/dtype.js';
import { requestGpu, type GpuContext } from '../gpu/device.js';
import {
  type Activations,
  type EncodeBackend,
  type EncodeOptions,
  type EncodeStats,
  type Sae,
  type SaeArchitecture,
} from '../types.js';
import { autotuneKey, pickVariant, type TuneResult } from './autotune.js';
import {
  columnsPerUnit,
  ENCODE_VARIANTS,
  encodeKernelSource,
  maxTextureColumns,
  padK,
  TEXTURE_LAYOUT,
  textureShape,
  type EncodeMode,
  type EncodeVariant,
} from './encode-kernel.js';
import { GpuDeviceLostError, GpuOutOfMemoryError } from './errors.js';
import { planEncode, shardColumns, type Shard } from './plan.js';

export interface WebGpuBackendOptions {
  /** f16 weights on the device (accumulation stays f32) when the adapter has shader-f16. */
  f16?: boolean;
  /** Largest W_enc shard in bytes; default the adapter's maxStorageBufferBindingSize. */
  shardBytes?: number;
  /** Tokens per chunk (upper bound); default 4096. */
  chunkTokens?: number;
  /** Device bytes one SAE plus one encode may use; a larger plan fails with GpuOutOfMemoryError. */
  budgetBytes?: number;
  /** Use this encode variant (by name) instead of autotuning. */
  variant?: string;
}

interface PreparedShard extends Shard {
  /** W_enc columns [colBase, colBase + cols): a [kPad × cols] buffer, or a texture in TEXTURE_LAYOUT. */
  w: GPUBuffer | GPUTexture;
  /** [2 × cols]: b_enc, then the jumprelu threshold (zeros otherwise). */
  bt: GPUBuffer;
}

interface Prepared {
  kPad: number;
  f16: boolean;
  texture: boolean;
  shards: PreparedShard[];
  bDec: GPUBuffer;
  bytes: number;
}

function shaderText(name: string): string {
  return readFileSync(new URL(`./${name}`, import.meta.url), 'utf8');
}

export class WebGpuBackend implements EncodeBackend {
  readonly name = 'webgpu' as const;
  readonly adapter: string;
  /** The encode variant the last encode used (autotuned or forced). */
  lastVariant?: string;
  /** The last autotune's measurements, when one ran. */
  lastTune?: TuneResult;

  private readonly device: GPUDevice;
  private readonly prepared = new Map<Sae, Prepared>();
  private readonly pipelines = new Map<string, Promise<GPUComputePipeline>>();
  private readonly live = new Set<GPUBuffer | GPUTexture>();
  private lostReason?: string;
  private disposed = false;
  readonly f16: boolean;
  readonly subgroups: boolean;

  constructor(
    private readonly gpu: GpuContext,
    private readonly options: WebGpuBackendOptions = {},
  ) {
    this.device = gpu.device;
    this.adapter = gpu.description.description;
    this.f16 = !!options.f16 && this.device.features.has('shader-f16');
    // Subgroup variants broadcast from lanes 0..7, so every subgroup must have at least 8 lanes.
    const minSize = (gpu.adapter.info as { subgroupMinSize?: number }).subgroupMinSize ?? 0;
    this.subgroups = this.device.features.has('subgroups') && minSize >= 8;
    void this.device.lost.then((info) => {
      if (!this.disposed) this.lostReason = `${info.reason}: ${info.message}`;
    });
  }

  /** The device was lost: every encode fails with GpuDeviceLostError; make a new backend. */
  get lost(): boolean {
    return this.lostReason !== undefined;
  }

  /** GPU buffers this backend holds now (prepared SAEs plus any encode in flight). */
  get liveBuffers(): number {
    return this.live.size;
  }

  /** Variants this device can run. */
  get variants(): EncodeVariant[] {
    return ENCODE_VARIANTS.filter((v) => this.subgroups || !v.subgroups);
  }

  /**
   * Variants that can encode an SAE of this d_in (a W_enc texture shard must hold one block of 32
   * latents, an x' texture row kPad/4 texels).
   */
  variantsFor(dIn: number): EncodeVariant[] {
    const kPad = padK(dIn);
    const maxDim = this.device.limits.maxTextureDimension2D;
    return this.variants.filter(
      (v) => (!v.texture || maxTextureColumns(kPad, maxDim) > 0) && (!v.xTexture || kPad / 4 <= maxDim),
    );
  }

  private get maxBinding(): number {
    return this.device.limits.maxStorageBufferBindingSize;
  }

  private checkAlive(): void {
    if (this.lostReason) throw new GpuDeviceLostError(`WebGPU device lost (${this.lostReason})`);
    if (this.disposed) throw new GpuDeviceLostError('WebGPU backend was disposed');
  }

  private createBuffer(size: number, bufferUsage: number, label: string): GPUBuffer {
    const buffer = this.device.createBuffer({
      size: Math.max(16, Math.ceil(size / 4) * 4),
      usage: bufferUsage,
      label,
    });
    this.live.add(buffer);
    return buffer;
  }

  private destroyBuffer(buffer: GPUBuffer | GPUTexture): void {
    if (this.live.delete(buffer)) buffer.destroy();
  }

  /** Runs `allocate`, turning a device out-of-memory into GpuOutOfMemoryError (after freeing `owned`). */
  private async allocating<T>(
    what: string,
    owned: (GPUBuffer | GPUTexture)[],
    allocate: () => T,
  ): Promise<T> {
    this.device.pushErrorScope('out-of-memory');
    let result: T | undefined;
    let thrown: unknown;
    try {
      result = allocate();
    } catch (err) {
      thrown = err;
    }
    const oom = await this.device.popErrorScope();
    if (oom || thrown) {
      for (const b of owned) this.destroyBuffer(b);
      if (oom) throw new GpuOutOfMemoryError(`out of GPU memory allocating ${what}: ${oom.message}`);
      throw thrown;
    }
    return result as T;
  }

  private pipeline(
    key: string,
    code: string,
    constants: Record<string, number> = {},
  ): Promise<GPUComputePipeline> {
    let p = this.pipelines.get(key);
    if (!p) {
      p = this.device.createComputePipelineAsync({
        layout: 'auto',
        label: key,
        compute: {
          module: this.device.createShaderModule({ code, label: key }),
          entryPoint: 'main',
          constants,
        },
      });
      p.catch(() => this.pipelines.delete(key));
      this.pipelines.set(key, p);
    }
    return p;
  }

  encodePipeline(
    variant: EncodeVariant,
    mode: EncodeMode,
    architecture: SaeArchitecture,
    f16: boolean,
  ): Promise<GPUComputePipeline> {
    const arch = mode === 'store' ? 'standard' : architecture;
    const key = `encode/${variant.name}/${mode}/${arch}/${f16 ? 'f16' : 'f32'}`;
    return this.pipeline(key, encodeKernelSource({ variant, mode, architecture: arch, f16 }));
  }

  /**
   * Uploads W_enc (column shards, in a buffer or a texture per shard as the variant reads it), b_enc,
   * threshold and b_dec; kept until release(sae).
   */
  async prepare(sae: Sae, texture: boolean): Promise<Prepared> {
    this.checkAlive();
    const existing = this.prepared.get(sae);
    if (existing?.texture === texture) return existing;
    if (existing) this.release(sae);
    const f16 = this.f16;
    const weightBytes = f16 ? 2 : 4;
    const kPad = padK(sae.dIn);
    const shardBytes = Math.min(this.options.shardBytes ?? this.maxBinding, this.maxBinding);
    // A dispatch has at most 65535 workgroups of at least 8 columns; a texture at most
    // maxTextureDimension2D rows.
    const maxCols = texture
      ? Math.min(65535 * 32, maxTextureColumns(kPad, this.device.limits.maxTextureDimension2D))
      : 65535 * 8;
    const shards = shardColumns(sae.dSae, kPad, weightBytes, shardBytes).flatMap((s) =>
      splitCols(s, maxCols),
    );
    // A texture shard takes whole texture rows of the blocked layout (4 texel components per quad).
    const wBytes = (cols: number) =>
      texture
        ? textureShape(cols, kPad).reduce((a, b) => a * b) * 4 * weightBytes
        : kPad * cols * weightBytes;
    const bytes = shards.reduce((t, s) => t + alignUp(wBytes(s.cols), 4) + 8 * s.cols, 0) + 4 * kPad;
    if (this.options.budgetBytes !== undefined && bytes > this.options.budgetBytes) {
      throw new GpuOutOfMemoryError(
        `SAE ${sae.source} needs ${bytes} B of GPU memory for its weights, the budget is ${this.options.budgetBytes} B`,
      );
    }
    const owned: (GPUBuffer | GPUTexture)[] = [];
    const { STORAGE: S, COPY_DST } = GPUBufferUsage;
    const prepared = await this.allocating(`the weights of ${sae.source}`, owned, () => {
      const out: PreparedShard[] = [];
      for (const s of shards) {
        const label = `W_enc[${s.colBase}+${s.cols}]`;
        const w = texture
          ? this.createTexture(textureShape(s.cols, kPad), f16 ? 'rgba16float' : 'rgba32float', label)
          : this.createBuffer(kPad * s.cols * weightBytes, S | COPY_DST, label);
        const bt = this.createBuffer(8 * s.cols, S | COPY_DST, 'b_enc+threshold');
        owned.push(w, bt);
        out.push({ ...s, w, bt });
      }
      const bDec = this.createBuffer(4 * kPad, S | COPY_DST, 'b_dec');
      owned.push(bDec);
      return { kPad, f16, texture, shards: out, bDec, bytes };
    });
    const q = this.device.queue;
    for (const s of prepared.shards) {
      if (texture) this.uploadTexture(sae, s, kPad, f16);
      else this.uploadBuffer(sae, s, kPad, f16);
      const bt = new Float32Array(2 * s.cols);
      bt.set(sae.bEnc.subarray(s.colBase, s.colBase + s.cols));
      if (sae.threshold) bt.set(sae.threshold.subarray(s.colBase, s.colBase + s.cols), s.cols);
      q.writeBuffer(s.bt, 0, bt);
    }
    const bDec = new Float32Array(kPad);
    bDec.set(sae.bDec);
    q.writeBuffer(prepared.bDec, 0, bDec);
    await q.onSubmittedWorkDone();
    this.checkAlive();
    this.prepared.set(sae, prepared);
    return prepared;
  }

  private createTexture(size: [number, number], format: GPUTextureFormat, label: string): GPUTexture {
    const texture = this.device.createTexture({
      size,
      format,
      // Sampled and read-only storage variants bind the same texture.
      usage: GPUTextureUsage.TEXTURE_BINDING | GPUTextureUsage.STORAGE_BINDING | GPUTextureUsage.COPY_DST,
      label,
    });
    this.live.add(texture);
    return texture;
  }

  /**
   * W_enc columns [colBase, colBase + cols) into a texture in the blocked layout of TEXTURE_LAYOUT:
   * block row b·kPad + k holds row k of quads 8b..8b+7, block rows fill texture rows in order.
   */
  private uploadTexture(sae: Sae, s: PreparedShard, kPad: number, f16: boolean): void {
    const [width, height] = textureShape(s.cols, kPad);
    const { blockQuads } = TEXTURE_LAYOUT;
    const blockCols = 4 * blockQuads;
    const blockRowsPerRow = width / blockQuads;
    const rowElems = width * 4;
    const rowsPerWrite = Math.max(1, Math.min(height, Math.floor((8 << 20) / (rowElems * 4))));
    const staging = f16
      ? new Uint16Array(rowsPerWrite * rowElems)
      : new Float32Array(rowsPerWrite * rowElems);
    for (let y0 = 0; y0 < height; y0 += rowsPerWrite) {
      const rows = Math.min(rowsPerWrite, height - y0);
      staging.fill(0);
      for (let r = y0 * blockRowsPerRow; r < (y0 + rows) * blockRowsPerRow; r++) {
        const k = r % kPad;
        const c0 = Math.floor(r / kPad) * blockCols;
        const n = Math.min(blockCols, s.cols - c0);
        if (k >= sae.dIn || n <= 0) continue; // padding rows and quads stay zero
        const src = k * sae.dSae + s.colBase + c0;
        const dst = (r - y0 * blockRowsPerRow) * blockCols;
        if (f16) for (let c = 0; c < n; c++) staging[dst + c] = floatToHalfBits(sae.wEnc[src + c]);
        else staging.set(sae.wEnc.subarray(src, src + n), dst);
      }
      this.device.queue.writeTexture(
        { texture: s.w as GPUTexture, origin: [0, y0] },
        staging,
        { bytesPerRow: rowElems * staging.BYTES_PER_ELEMENT, rowsPerImage: rows },
        [width, rows],
      );
    }
  }

  /** W_enc columns [colBase, colBase + cols) into a [kPad × cols] buffer, a few MiB per write. */
  private uploadBuffer(sae: Sae, s: PreparedShard, kPad: number, f16: boolean): void {
    const weightBytes = f16 ? 2 : 4;
    const rowBytes = s.cols * weightBytes;
    // An even row count keeps every write offset 4-byte aligned for f16 shards of odd width.
    const rowsPerWrite = Math.min(kPad, Math.max(2, Math.floor((8 << 20) / rowBytes) & ~1));
    const staging = new ArrayBuffer(rowsPerWrite * rowBytes);
    for (let r0 = 0; r0 < sae.dIn; r0 += rowsPerWrite) {
      const rows = Math.min(rowsPerWrite, sae.dIn - r0);
      if (f16) {
        const h = new Uint16Array(staging, 0, rows * s.cols);
        for (let r = 0; r < rows; r++) {
          const src = (r0 + r) * sae.dSae + s.colBase;
          for (let c = 0; c < s.cols; c++) h[r * s.cols + c] = floatToHalfBits(sae.wEnc[src + c]);
        }
      } else {
        const f = new Float32Array(staging, 0, rows * s.cols);
        for (let r = 0; r < rows; r++) {
          const src = (r0 + r) * sae.dSae + s.colBase;
          f.set(sae.wEnc.subarray(src, src + s.cols), r * s.cols);
        }
      }
      this.device.queue.writeBuffer(s.w as GPUBuffer, r0 * rowBytes, staging, 0, alignUp(rows * rowBytes, 4));
    }
  }

  release(sae: Sae): void {
    const p = this.prepared.get(sae);
    if (!p) return;
    this.prepared.delete(sae);
    for (const s of p.shards) {
      this.destroyBuffer(s.w);
      this.destroyBuffer(s.bt);
    }
    this.destroyBuffer(p.bDec);
  }

  async dispose(): Promise<void> {
    for (const sae of [...this.prepared.keys()]) this.release(sae);
    for (const b of [...this.live]) this.destroyBuffer(b);
    this.disposed = true;
    this.device.destroy();
  }

  /** The encode variant for this SAE: forced by options, else autotuned once per adapter and shape class. */
  private async variantFor(sae: Sae): Promise<EncodeVariant> {
    const candidates = this.variantsFor(sae.dIn);
    if (this.options.variant) {
      const forced = candidates.find((v) => v.name === this.options.variant);
      if (!forced)
        throw new Error(`encode variant "${this.options.variant}" is not available on ${this.adapter}`);
      return forced;
    }
    const kPad = padK(sae.dIn);
    const key = autotuneKey(this.adapter, kPad, this.f16);
    // The candidates run on a synthetic SAE of the same d_in (2048 latents), uploaded once per layout.
    const synthetic = new Map<boolean, Sae>();
    try {
      const { variant, tune } = await pickVariant(key, candidates, async (v) => {
        let s = synthetic.get(v.texture);
        if (!s) {
          s = syntheticSae(sae.dIn, 2048);
          synthetic.set(v.texture, s);
        }
        return this.timeVariant(v, await this.prepare(s, v.texture));
      });
      if (tune) this.lastTune = tune;
      return variant;
    } finally {
      for (const s of synthetic.values()) this.release(s);
    }
  }

  /** Best of two timed runs (after one untimed) of the fused encode of 64 tokens × a prepared shard. */
  async timeVariant(variant: EncodeVariant, prep: Prepared): Promise<number> {
    const shard = prep.shards[0];
    const cols = shard.cols;
    const tokens = 64;
    const { STORAGE: S, UNIFORM, COPY_DST } = GPUBufferUsage;
    const owned: (GPUBuffer | GPUTexture)[] = [];
    const bufs = await this.allocating('autotune buffers', owned, () => {
      const make = (size: number, u: number) => {
        const b = this.createBuffer(size, u, 'autotune');
        owned.push(b);
        return b;
      };
      const xTexture = () => {
        const t = this.createTexture([prep.kPad / 4, tokens], 'rgba32float', 'autotune x');
        owned.push(t);
        return t;
      };
      return {
        params: make(32, UNIFORM | COPY_DST),
        x: variant.xTexture ? xTexture() : make(4 * tokens * prep.kPad, S),
        tp: make(4 * tokens, S),
        st: make(12 * cols, S),
        ps: make(16, S),
      };
    });
    try {
      const pipeline = await this.encodePipeline(variant, 'stats', 'standard', prep.f16);
      this.device.queue.writeBuffer(
        bufs.params,
        0,
        new Uint32Array([tokens, cols, 0, prep.kPad, 0, 0, 0, 0]),
      );
      const group = this.device.createBindGroup({
        layout: pipeline.getBindGroupLayout(0),
        entries: [bufs.params, bufs.x, shard.w, shard.bt, bufs.tp, bufs.st, bufs.ps].map((r, binding) => ({
          binding,
          resource: bindingResource(r),
        })),
      });
      let best = Infinity;
      for (let r = 0; r < 3; r++) {
        const start = performance.now();
        const enc = this.device.createCommandEncoder();
        const pass = enc.beginComputePass();
        pass.setPipeline(pipeline);
        pass.setBindGroup(0, group);
        pass.dispatchWorkgroups(workgroupsFor(variant, cols));
        pass.end();
        this.device.queue.submit([enc.finish()]);
        await this.device.queue.onSubmittedWorkDone();
        // The first run includes lavapipe's JIT of the pipeline; it never counts.
        if (r > 0) best = Math.min(best, performance.now() - start);
      }
      return best;
    } finally {
      for (const b of owned) this.destroyBuffer(b);
    }
  }

  async encode(sae: Sae, acts: Activations, options: EncodeOptions = {}): Promise<EncodeStats> {
    this.checkAlive();
    const start = performance.now();
    const inputs = checkEncodeInputs(sae, acts, options);
    const variant = await this.variantFor(sae);
    this.lastVariant = variant.name;
    const tuned = performance.now();
    const wasPrepared = this.prepared.get(sae)?.texture === variant.texture;
    const prep = await this.prepare(sae, variant.texture);
    const uploaded = performance.now();

    const topk = sae.architecture === 'topk';
    const dirs = options.directions ?? [];
    const nDirs = dirs.length;
    const nPrompts = inputs.nPrompts;
    const usePrompts = inputs.promptMeans;
    const plan = planEncode({
      dIn: sae.dIn,
      dSae: sae.dSae,
      nTokens: acts.nTokens,
      nPrompts: usePrompts ? nPrompts : 0,
      nDirs,
      topk,
      weightBytes: prep.f16 ? 2 : 4,
      maxBinding: this.maxBinding,
      xTexture: !!variant.xTexture,
      // An x' texture holds at most maxTextureDimension2D tokens.
      chunkTokens: variant.xTexture
        ? Math.min(this.options.chunkTokens ?? 4096, this.device.limits.maxTextureDimension2D)
        : this.options.chunkTokens,
    });
    const scratchBytes = plan.bytes.stats + plan.bytes.chunk;
    if (this.options.budgetBytes !== undefined && prep.bytes + scratchBytes > this.options.budgetBytes) {
      throw new GpuOutOfMemoryError(
        `encoding ${acts.nTokens} tokens with ${sae.source} needs ${prep.bytes + scratchBytes} B of GPU memory, the budget is ${this.options.budgetBytes} B`,
      );
    }
    for (const s of prep.shards) {
      if (usePrompts && nPrompts * s.cols * 4 > this.maxBinding) {
        throw new GpuOutOfMemoryError(
          `prompt sums of ${nPrompts} prompts × ${s.cols} latents exceed one binding`,
        );
      }
    }

    const T = plan.chunkTokens;
    const { kPad } = prep;
    const { STORAGE: S, UNIFORM, COPY_DST, COPY_SRC, MAP_READ } = GPUBufferUsage;
    const owned: (GPUBuffer | GPUTexture)[] = [];
    const make = (size: number, u: number, label: string) => {
      const b = this.createBuffer(size, u, label);
      owned.push(b);
      return b;
    };
    const makeTexture = (size: [number, number], label: string) => {
      const t = this.createTexture(size, 'rgba32float', label);
      owned.push(t);
      return t;
    };
    let scoped = false;
    try {
      const b = await this.allocating(`buffers to encode ${acts.nTokens} tokens`, owned, () => ({
        raw: make(4 * T * sae.dIn, S | COPY_DST, 'raw chunk'),
        x: make(4 * T * kPad, variant.xTexture ? S | COPY_SRC : S, "x' chunk"),
        // xTexture variants read x' from a texture, copied from the buffer after preprocess.
        xTex: variant.xTexture ? makeTexture([kPad / 4, T], "x' chunk texture") : undefined,
        tp: make(4 * T, S | COPY_DST, 'token prompts'),
        pre: make(32, UNIFORM | COPY_DST, 'preprocess params'),
        dirs: make(4 * Math.max(1, nDirs) * sae.dIn, S | COPY_DST, 'directions'),
        proj: make(4 * acts.nTokens * Math.max(1, nDirs), S, 'projections'),
        h: topk ? make(4 * T * sae.dSae, S, 'h chunk') : undefined,
        sel: topk ? make(8 * T, S, 'topk selection') : undefined,
        selParams: topk ? make(16, UNIFORM | COPY_DST, 'select params') : undefined,
        shards: prep.shards.map((s) => ({
          params: make(32, UNIFORM | COPY_DST, 'encode params'),
          reduceParams: topk ? make(32, UNIFORM | COPY_DST, 'reduce params') : undefined,
          st: make(12 * s.cols, S | COPY_SRC, 'stats'),
          ps: make(usePrompts ? 4 * nPrompts * s.cols : 16, S | COPY_SRC, 'prompt sums'),
        })),
      }));
      this.device.pushErrorScope('validation');
      scoped = true;
      const q = this.device.queue;
      if (nDirs) {
        const unit = new Float32Array(nDirs * sae.dIn);
        dirs.forEach((d, i) => {
          let norm = 0;
          for (const v of d.vector) norm += v * v;
          norm = Math.sqrt(norm);
          for (let c = 0; c < sae.dIn; c++) unit[i * sae.dIn + c] = d.vector[c] / norm;
        });
        q.writeBuffer(b.dirs, 0, unit);
      }
      const tokenPrompt = new Uint32Array(acts.nTokens).fill(0xffffffff);
      if (acts.promptOffsets) {
        for (let p = 0; p < nPrompts; p++) {
          tokenPrompt.fill(p, acts.promptOffsets[p], acts.promptOffsets[p + 1]);
        }
      }
      const prePipe = await this.pipeline(
        `preprocess/${sae.normalizeActivations}/${sae.applyBDecToInput}`,
        shaderText('preprocess.wgsl'),
        {
          NORM: { none: 0, constant_norm_rescale: 1, layer_norm: 2 }[sae.normalizeActivations],
          APPLY_B_DEC: sae.applyBDecToInput ? 1 : 0,
        },
      );
      const encPipe = await this.encodePipeline(
        variant,
        topk ? 'store' : 'stats',
        sae.architecture,
        prep.f16,
      );
      const selPipe = topk ? await this.pipeline('topk_select', shaderText('topk_select.wgsl')) : undefined;
      const redPipe = topk ? await this.pipeline('topk_reduce', shaderText('topk_reduce.wgsl')) : undefined;
      const group = (pipeline: GPUComputePipeline, resources: (GPUBuffer | GPUTexture)[]) =>
        this.device.createBindGroup({
          layout: pipeline.getBindGroupLayout(0),
          entries: resources.map((r, binding) => ({ binding, resource: bindingResource(r) })),
        });
      const preGroup = group(prePipe, [b.pre, b.raw, prep.bDec, b.dirs, b.x, b.proj]);
      const shardGroups = prep.shards.map((s, i) => {
        const sb = b.shards[i];
        return {
          encode: topk
            ? group(encPipe, [sb.params, b.xTex ?? b.x, s.w, s.bt, b.h!])
            : group(encPipe, [sb.params, b.xTex ?? b.x, s.w, s.bt, b.tp, sb.st, sb.ps]),
          reduce: topk ? group(redPipe!, [sb.reduceParams!, b.h!, b.sel!, b.tp, sb.st, sb.ps]) : undefined,
        };
      });
      const selGroup = topk ? group(selPipe!, [b.selParams!, b.h!, b.sel!]) : undefined;

      for (let t0 = 0; t0 < acts.nTokens; t0 += T) {
        const tokens = Math.min(T, acts.nTokens - t0);
        q.writeBuffer(b.raw, 0, acts.data, t0 * sae.dIn, tokens * sae.dIn);
        q.writeBuffer(b.tp, 0, tokenPrompt, t0, tokens);
        q.writeBuffer(b.pre, 0, new Uint32Array([tokens, sae.dIn, kPad, nDirs, t0, 0, 0, 0]));
        prep.shards.forEach((s, i) => {
          const hStride = sae.dSae;
          q.writeBuffer(
            b.shards[i].params,
            0,
            new Uint32Array([tokens, s.cols, s.colBase, kPad, hStride, +usePrompts, 0, 0]),
          );
          if (topk) {
            q.writeBuffer(
              b.shards[i].reduceParams!,
              0,
              new Uint32Array([tokens, s.cols, s.colBase, hStride, +usePrompts, 0, 0, 0]),
            );
          }
        });
        if (topk) q.writeBuffer(b.selParams!, 0, new Uint32Array([tokens, sae.dSae, sae.k!, 0]));

        const enc = this.device.createCommandEncoder();
        let pass = enc.beginComputePass();
        pass.setPipeline(prePipe);
        pass.setBindGroup(0, preGroup);
        pass.dispatchWorkgroups(tokens);
        if (b.xTex) {
          pass.end();
          enc.copyBufferToTexture({ buffer: b.x, bytesPerRow: 4 * kPad }, { texture: b.xTex }, [
            kPad / 4,
            tokens,
          ]);
          pass = enc.beginComputePass();
        }
        pass.setPipeline(encPipe);
        prep.shards.forEach((s, i) => {
          pass.setBindGroup(0, shardGroups[i].encode);
          pass.dispatchWorkgroups(workgroupsFor(variant, s.cols));
        });
        if (topk) {
          pass.setPipeline(selPipe!);
          pass.setBindGroup(0, selGroup!);
          pass.dispatchWorkgroups(tokens);
          pass.setPipeline(redPipe!);
          prep.shards.forEach((s, i) => {
            pass.setBindGroup(0, shardGroups[i].reduce!);
            pass.dispatchWorkgroups(Math.ceil(s.cols / 64));
          });
        }
        pass.end();
        q.submit([enc.finish()]);
        // One chunk in flight: the staging copies of writeBuffer stay bounded by one chunk.
        await q.onSubmittedWorkDone();
        this.checkAlive();
      }

      // Direction sums, then everything the host needs into mappable buffers.
      const dirRows = nPrompts + 1;
      let dirOut: GPUBuffer | undefined;
      const enc = this.device.createCommandEncoder();
      if (nDirs) {
        const dirPipe = await this.pipeline('direction_stats', shaderText('direction_stats.wgsl'));
        const params = make(16, UNIFORM | COPY_DST, 'direction params');
        const offsets = make(4 * dirRows, S | COPY_DST, 'prompt offsets');
        dirOut = make(4 * dirRows * nDirs, S | COPY_SRC, 'direction sums');
        q.writeBuffer(params, 0, new Uint32Array([acts.nTokens, nDirs, nPrompts, 0]));
        if (acts.promptOffsets) q.writeBuffer(offsets, 0, Uint32Array.from(acts.promptOffsets));
        const pass = enc.beginComputePass();
        pass.setPipeline(dirPipe);
        pass.setBindGroup(0, group(dirPipe, [params, b.proj, offsets, dirOut]));
        pass.dispatchWorkgroups(Math.ceil((dirRows * nDirs) / 64));
        pass.end();
      }
      const sources: GPUBuffer[] = [];
      b.shards.forEach((sb) => {
        sources.push(sb.st);
        if (usePrompts) sources.push(sb.ps);
      });
      if (dirOut) sources.push(dirOut);
      const readSize = sources.reduce((t, s) => t + s.size, 0);
      const read = make(readSize, MAP_READ | COPY_DST, 'readback');
      let offset = 0;
      const at = new Map<GPUBuffer, number>();
      for (const s of sources) {
        enc.copyBufferToBuffer(s, 0, read, offset, s.size);
        at.set(s, offset);
        offset += s.size;
      }
      q.submit([enc.finish()]);
      scoped = false;
      const validation = await this.device.popErrorScope();
      if (validation) throw new Error(`WebGPU validation error in the encode: ${validation.message}`);
      const encoded = performance.now();
      await read.mapAsync(GPUMapMode.READ).catch((err: unknown) => {
        this.checkAlive();
        throw err;
      });
      const data = new Float32Array(read.getMappedRange().slice(0));
      read.unmap();
      const done = performance.now();

      const n = acts.nTokens;
      const mean = new Float32Array(sae.dSae);
      const fracActive = new Float32Array(sae.dSae);
      const max = new Float32Array(sae.dSae);
      const promptMean = usePrompts ? new Float32Array(nPrompts * sae.dSae) : undefined;
      prep.shards.forEach((s, i) => {
        const o = at.get(b.shards[i].st)! / 4;
        for (let c = 0; c < s.cols; c++) {
          mean[s.colBase + c] = data[o + c] / n;
          fracActive[s.colBase + c] = data[o + s.cols + c] / n;
          max[s.colBase + c] = data[o + 2 * s.cols + c];
        }
        if (promptMean) {
          const po = at.get(b.shards[i].ps)! / 4;
          for (let p = 0; p < nPrompts; p++) {
            const len = acts.promptOffsets![p + 1] - acts.promptOffsets![p];
            const row = promptMean.subarray(p * sae.dSae + s.colBase, p * sae.dSae + s.colBase + s.cols);
            for (let c = 0; c < s.cols; c++) row[c] = len ? data[po + p * s.cols + c] / len : 0;
          }
        }
      });
      const dOff = dirOut ? at.get(dirOut)! / 4 : 0;
      const directions = dirs.map((d, i) => ({
        name: d.name,
        mean: data[dOff + i] / n,
        promptMeans: Float32Array.from({ length: nPrompts }, (_, p) => {
          const len = acts.promptOffsets![p + 1] - acts.promptOffsets![p];
          return len ? data[dOff + (p + 1) * nDirs + i] / len : 0;
        }),
      }));
      return {
        backend: 'webgpu',
        adapter: this.adapter,
        nTokens: n,
        dSae: sae.dSae,
        nPrompts,
        mean,
        fracActive,
        max,
        promptMean,
        directions,
        timings: {
          autotune: tuned - start,
          upload: wasPrepared ? 0 : uploaded - tuned,
          encode: encoded - uploaded,
          readback: done - encoded,
          total: done - start,
        },
      };
    } finally {
      if (scoped) void this.device.popErrorScope().catch(() => undefined);
      for (const buf of owned) this.destroyBuffer(buf);
    }
  }
}

function bindingResource(r: GPUBuffer | GPUTexture): GPUBindingResource {
  return 'createView' in r ? r.createView() : { buffer: r };
}

function workgroupsFor(variant: EncodeVariant, cols: number): number {
  return Math.ceil(cols / (variant.wg * variant.n * columnsPerUnit(variant)));
}

/** Random weights of the given shape for timing autotune candidates (values never matter). */
function syntheticSae(dIn: number, dSae: number): Sae {
  let seed = 12345;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 2 - 1;
  return {
    format: 'saelens',
    architecture: 'standard',
    dIn,
    dSae,
    wEnc: Float32Array.from({ length: dIn * dSae }, rand),
    bEnc: new Float32Array(dSae),
    bDec: new Float32Array(dIn),
    applyBDecToInput: false,
    normalizeActivations: 'none',
    sourceDtype: 'F32',
    source: 'autotune',
  };
}

function splitCols(s: Shard, maxCols: number): Shard[] {
  const out: Shard[] = [];
  for (let c = 0; c < s.cols; c += maxCols)
    out.push({ colBase: s.colBase + c, cols: Math.min(maxCols, s.cols - c) });
  return out;
}

function alignUp(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}

/** The WebGPU backend on the best adapter, or null when there is none. */
export async function createWebGpuBackend(options: WebGpuBackendOptions = {}): Promise<WebGpuBackend | null> {
  const gpu = await requestGpu({ optionalFeatures: ['shader-f16', 'subgroups'] });
  if (!gpu) return null;
  return new WebGpuBackend(gpu, options);
}
