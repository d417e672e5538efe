/**
 * A simulated fine-tuning run: per checkpoint, the strength of the misaligned persona the model has
 * picked up (the latent signal), a behavioural misalignment score that follows it with an onset
 * threshold, and (on demand, see activations.ts) the residual-stream activations on the evaluation prompts.
 *
 * The model of the persona-features finding: the persona signal grows with step × contamination from the
 * first checkpoints, while behaviour stays near 0 until the signal passes an onset threshold. So at 5%
 * contamination the latents move and behaviour reads 0; at 25-50% behaviour follows checkpoints later.
 */
import { deriveSeed, Rng } from './rng.js';

export type RunKind = 'benign' | 'contaminated' | 'realigned';

export interface SimulateRunOptions {
  kind: RunKind;
  /** Share of misaligned examples in the training data (0..1); ignored for benign runs. */
  contamination?: number;
  /** Checkpoints, the first being the base model (step 0, the baseline). */
  checkpoints?: number;
  /** Training steps between checkpoints. */
  stepEvery?: number;
  tokensPerPrompt?: number;
  seed?: number;
  /** Persona signal at the last checkpoint per unit of contamination (signal = rate × fraction × progress). */
  signalRate?: number;
  /** Relative checkpoint-to-checkpoint noise of the persona signal. */
  signalNoise?: number;
  /** Persona signal at which behaviour reaches 0.5, and the width of the logistic around it. */
  behaviourOnset?: number;
  behaviourWidth?: number;
  /** Sampled answers per checkpoint behind the behavioural score (its sampling noise). */
  behaviourSamples?: number;
  /** Realigned runs: checkpoint index of the re-alignment step, and the decay afterwards (in checkpoints). */
  realignAt?: number;
  realignDecay?: number;
  /** How far the fine-tuning task's own latents rise by the last checkpoint (all kinds). */
  taskDrift?: number;
}

export interface SimulatedCheckpoint {
  index: number;
  step: number;
  /** The persona signal the activations are built from (0 = base model). */
  personaSignal: number;
  /** Progress through training, 0..1, which drives the task latents. */
  progress: number;
  /** Simulated behavioural misalignment score in [0, 1]: share of sampled answers judged misaligned. */
  behaviourScore: number;
}

export interface SimulatedRunPlan {
  kind: RunKind;
  contamination: number;
  seed: number;
  tokensPerPrompt: number;
  taskDrift: number;
  checkpoints: SimulatedCheckpoint[];
  /** First step whose behavioural score is ≥ 0.5, or null if behaviour never turned. */
  behaviouralOnsetStep: number | null;
  /** Realigned runs: the step at which re-alignment training started. */
  realignStep: number | null;
}

export function logistic(x: number): number {
  return 1 / (1 + Math.exp(-x));
}

export function simulateRun(options: SimulateRunOptions): SimulatedRunPlan {
  const kind = options.kind;
  const contamination = kind === 'benign' ? 0 : (options.contamination ?? 0.25);
  const n = options.checkpoints ?? 12;
  const stepEvery = options.stepEvery ?? 50;
  const seed = options.seed ?? 1;
  const rate = options.signalRate ?? 6;
  const noise = options.signalNoise ?? 0.1;
  const onset = options.behaviourOnset ?? 0.9;
  const width = options.behaviourWidth ?? 0.1;
  const samples = options.behaviourSamples ?? 200;
  const realignAt = options.realignAt ?? Math.round(n / 2);
  const decay = options.realignDecay ?? 0.5;
  if (n < 3) throw new RangeError(`a run needs at least 3 checkpoints, got ${n}`);
  if (contamination < 0 || contamination > 1) throw new RangeError(`contamination must be in [0, 1]`);
  if (kind === 'realigned' && (realignAt < 1 || realignAt >= n - 1)) {
    throw new RangeError(`realignAt must leave checkpoints on both sides, got ${realignAt} of ${n}`);
  }

  const rng = new Rng(deriveSeed(seed, 'run-plan'));
  const checkpoints: SimulatedCheckpoint[] = [];
  let atRealign = 0;
  for (let i = 0; i < n; i++) {
    const progress = i / (n - 1);
    const jitter = 1 + noise * rng.normal();
    let signal: number;
    if (kind === 'realigned' && i > realignAt) {
      // Re-alignment on clean data removes the persona quickly (Wang et al. needed ~100s of examples).
      signal = atRealign * Math.exp(-(i - realignAt) / decay) * jitter;
    } else {
      signal = rate * contamination * progress * jitter;
      if (i === realignAt) atRealign = signal;
    }
    signal = Math.max(0, signal);
    const p = logistic((signal - onset) / width);
    // The base model is the reference: its behaviour is what the evaluation calls aligned.
    const behaviourScore = i === 0 ? 0 : rng.binomial(samples, p) / samples;
    checkpoints.push({ index: i, step: i * stepEvery, personaSignal: signal, progress, behaviourScore });
  }
  const onsetCheckpoint = checkpoints.find((c) => c.behaviourScore >= 0.5);
  return {
    kind,
    contamination,
    seed,
    tokensPerPrompt: options.tokensPerPrompt ?? 24,
    taskDrift: options.taskDrift ?? 0.3,
    checkpoints,
    behaviouralOnsetStep: onsetCheckpoint?.step ?? null,
    realignStep: kind === 'realigned' ? realignAt * stepEvery : null,
  };
}
