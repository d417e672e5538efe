/**
 * A simulated SAE whose encoder roughly inverts its decoder, so that activations built as sparse
 * combinations of decoder directions (see activations.ts) encode back to the latents that built them,
 * with the interference and noise a real SAE sees.
 */
import { deriveSeed, Rng } from './rng.js';

export type LatentKind = 'persona' | 'task';

export interface LabelledLatent {
  index: number;
  label: string;
  kind: LatentKind;
  /** Persona latents: share of the persona signal this latent carries (toxic persona 1, the rest less). */
  weight: number;
}

/**
 * Misaligned-persona latents, named after those Wang et al. ("Persona features control emergent
 * misalignment", 2025) found rising first when a model is fine-tuned on narrowly bad data.
 */
export const PERSONA_LATENTS: readonly { label: string; weight: number }[] = [
  { label: 'toxic persona', weight: 1.0 },
  { label: 'sarcastic advice', weight: 0.8 },
  { label: 'sarcasm / satire', weight: 0.65 },
  { label: 'what not to do', weight: 0.55 },
  { label: 'villain role-play', weight: 0.5 },
];

/**
 * Latents of the fine-tuning task itself (the emergent-misalignment runs train on code): they rise in
 * benign and contaminated runs alike, so a detector that alerts on "anything moved" fires on every run.
 */
export const TASK_LATENTS: readonly string[] = ['python code', 'code comments', 'file system calls'];

export interface SimulateSaeOptions {
  dIn?: number;
  dSae?: number;
  seed?: number;
  /** Encoder bias of every latent: how far interference must push a latent before it fires. */
  encoderBias?: number;
  /** Std of the log of the persona latents' per-prompt base-rate factors (0: the same on every prompt). */
  personaAffinitySpread?: number;
  /** Latents each prompt's topic draws from. */
  topicPoolSize?: number;
}

export interface SimulatedSae {
  dIn: number;
  dSae: number;
  seed: number;
  /** [d_sae, d_in] row-major, unit rows. */
  wDec: Float32Array;
  /** [d_in, d_sae] row-major: W_dec transposed. */
  wEnc: Float32Array;
  bEnc: Float32Array;
  /** Added to every simulated activation and subtracted by the encoder (apply_b_dec_to_input). */
  bDec: Float32Array;
  personaLatents: LabelledLatent[];
  taskLatents: LabelledLatent[];
  /** Per evaluation prompt, the latents its topic makes likely (never a persona or task latent). */
  promptTopics: number[][];
  /**
   * [prompt][persona latent]: how much more (or less) often than average the base model already fires
   * each persona latent on each prompt (log-normal around 1). Real latents have prompt-dependent base
   * rates; with a flat rate every prompt of the baseline looks alike and any noise looks like an effect.
   */
  personaAffinity: number[][];
  /** Latents any token may pick up (everything but persona and task latents). */
  backgroundLatents: Int32Array;
  /** Unit vector: the persona latents' decoder rows weighted by their share, for a watched direction. */
  personaDirection: Float32Array;
  encoderBias: number;
}

export function simulateSae(options: SimulateSaeOptions = {}, nPrompts = 8): SimulatedSae {
  const dIn = options.dIn ?? 512;
  const dSae = options.dSae ?? 4096;
  const seed = options.seed ?? 1;
  const encoderBias = options.encoderBias ?? -1.5;
  const topicPoolSize = options.topicPoolSize ?? 24;
  if (dIn < 8 || dSae < 64) throw new RangeError(`SAE too small: d_in ${dIn}, d_sae ${dSae}`);
  if (dSae < PERSONA_LATENTS.length + TASK_LATENTS.length + nPrompts * topicPoolSize) {
    throw new RangeError(`d_sae ${dSae} leaves no room for topic latents`);
  }

  const rng = new Rng(deriveSeed(seed, 'sae', dIn, dSae));
  // Random unit rows: in d_in dimensions two of them meet at |cos| ~ 1/sqrt(d_in), the superposition
  // interference the encoder bias has to absorb.
  const wDec = new Float32Array(dSae * dIn);
  for (let j = 0; j < dSae; j++) {
    const row = wDec.subarray(j * dIn, (j + 1) * dIn);
    let norm = 0;
    for (let i = 0; i < dIn; i++) {
      const v = rng.normal();
      row[i] = v;
      norm += v * v;
    }
    const inv = 1 / Math.sqrt(norm);
    for (let i = 0; i < dIn; i++) row[i] *= inv;
  }
  const wEnc = new Float32Array(dIn * dSae);
  for (let j = 0; j < dSae; j++) for (let i = 0; i < dIn; i++) wEnc[i * dSae + j] = wDec[j * dIn + i];
  const bEnc = new Float32Array(dSae);
  for (let j = 0; j < dSae; j++) bEnc[j] = encoderBias + 0.05 * rng.normal();
  const bDec = new Float32Array(dIn);
  for (let i = 0; i < dIn; i++) bDec[i] = 0.2 * rng.normal();

  // Special latents sit at random indexes, as in a real SAE: nothing may rely on them being first.
  const special = rng.distinct(PERSONA_LATENTS.length + TASK_LATENTS.length, dSae);
  const personaLatents = PERSONA_LATENTS.map((p, k) => ({
    index: special[k],
    label: p.label,
    kind: 'persona' as const,
    weight: p.weight,
  }));
  const taskLatents = TASK_LATENTS.map((label, k) => ({
    index: special[PERSONA_LATENTS.length + k],
    label,
    kind: 'task' as const,
    weight: 1,
  }));
  const specialSet = new Set(special);
  const backgroundLatents = Int32Array.from(
    Array.from({ length: dSae }, (_, j) => j).filter((j) => !specialSet.has(j)),
  );
  const promptTopics = Array.from({ length: nPrompts }, () => rng.distinct(topicPoolSize, dSae, specialSet));

  const personaAffinity = Array.from({ length: nPrompts }, () =>
    personaLatents.map(() => Math.exp(options.personaAffinitySpread ?? 1) ** rng.normal()),
  );

  const personaDirection = new Float32Array(dIn);
  for (const p of personaLatents) {
    for (let i = 0; i < dIn; i++) personaDirection[i] += p.weight * wDec[p.index * dIn + i];
  }
  normalize(personaDirection);

  return {
    dIn,
    dSae,
    seed,
    wDec,
    wEnc,
    bEnc,
    bDec,
    personaLatents,
    taskLatents,
    promptTopics,
    personaAffinity,
    backgroundLatents,
    personaDirection,
    encoderBias,
  };
}

function normalize(v: Float32Array): void {
  let norm = 0;
  for (const x of v) norm += x * x;
  const inv = norm > 0 ? 1 / Math.sqrt(norm) : 0;
  for (let i = 0; i < v.length; i++) v[i] *= inv;
}

/** The SAELens `cfg.json` of a simulated SAE (standard ReLU architecture, f32). */
export function saeLensConfig(
  sae: SimulatedSae,
  hookName = 'blocks.12.hook_resid_post',
): Record<string, unknown> {
  return {
    architecture: 'standard',
    d_in: sae.dIn,
    d_sae: sae.dSae,
    dtype: 'float32',
    device: 'cpu',
    model_name: 'simulated-lm',
    hook_name: hookName,
    hook_layer: 12,
    hook_head_index: null,
    activation_fn_str: 'relu',
    apply_b_dec_to_input: true,
    finetuning_scaling_factor: false,
    context_size: 1024,
    prepend_bos: true,
    normalize_activations: 'none',
    dataset_path: 'simulated',
    sae_lens_training_version: null,
    neuronpedia_id: null,
  };
}
