/**
 * Residual-stream activations the way an SAE sees real ones: each token is a sparse combination of
 * decoder directions (a few latents of its prompt's topic, a few unrelated ones, the persona latents with
 * a probability that grows with the run's persona signal, the fine-tuning task's latents) plus b_dec and
 * dense Gaussian noise. The SAE then has to separate them through superposition interference.
 */
import { EVAL_PROMPTS, type EvalPrompt } from './prompts.js';
import { deriveSeed, Rng } from './rng.js';
import { type SimulatedRunPlan } from './run.js';
import { type SimulatedSae } from './sae.js';

export interface SimulatedActivations {
  nTokens: number;
  dIn: number;
  /** [n_tokens, d_in] row-major. */
  data: Float32Array;
  /** [n_prompts + 1] token offsets. */
  promptOffsets: Int32Array;
  promptNames: string[];
}

export interface ActivationModel {
  /** Latents of the prompt's topic per token, and unrelated latents per token. */
  topicPerToken: number;
  backgroundPerToken: number;
  /** Std of the dense noise per dimension. */
  noise: number;
  /** Chance a persona latent fires on a base-model token, and the most it reaches. */
  personaBaseRate: number;
  personaMaxRate: number;
  /** How fast the firing rate saturates with signal × latent weight × prompt sensitivity. */
  personaGain: number;
  taskBaseRate: number;
}

export const DEFAULT_ACTIVATION_MODEL: ActivationModel = {
  topicPerToken: 5,
  backgroundPerToken: 5,
  noise: 0.1,
  personaBaseRate: 0.02,
  personaMaxRate: 0.5,
  personaGain: 2,
  taskBaseRate: 0.02,
};

/** Token count of prompt p: prompts differ in length, so prompt_offsets are not a plain multiple. */
export function promptTokens(tokensPerPrompt: number, p: number): number {
  return tokensPerPrompt + ((p % 3) - 1) * Math.floor(tokensPerPrompt / 4);
}

export function checkpointActivations(
  sae: SimulatedSae,
  plan: SimulatedRunPlan,
  index: number,
  prompts: readonly EvalPrompt[] = EVAL_PROMPTS,
  model: ActivationModel = DEFAULT_ACTIVATION_MODEL,
): SimulatedActivations {
  const checkpoint = plan.checkpoints[index];
  if (!checkpoint) throw new RangeError(`no checkpoint ${index} (run has ${plan.checkpoints.length})`);
  if (prompts.length > sae.promptTopics.length) {
    throw new RangeError(`SAE was simulated for ${sae.promptTopics.length} prompts, not ${prompts.length}`);
  }
  const { dIn, wDec, bDec } = sae;
  const rng = new Rng(deriveSeed(plan.seed, 'activations', index));
  const offsets = new Int32Array(prompts.length + 1);
  for (let p = 0; p < prompts.length; p++)
    offsets[p + 1] = offsets[p] + promptTokens(plan.tokensPerPrompt, p);
  const nTokens = offsets[prompts.length];
  const data = new Float32Array(nTokens * dIn);

  const add = (x: Float32Array, latent: number, coefficient: number) => {
    const row = latent * dIn;
    for (let i = 0; i < dIn; i++) x[i] += coefficient * wDec[row + i];
  };
  const signal = checkpoint.personaSignal;
  const taskRate = model.taskBaseRate + plan.taskDrift * checkpoint.progress;

  for (let p = 0; p < prompts.length; p++) {
    const topic = sae.promptTopics[p];
    const personaRates = sae.personaLatents.map(
      (latent, k) =>
        model.personaBaseRate * sae.personaAffinity[p][k] +
        model.personaMaxRate *
          (1 - Math.exp(-model.personaGain * signal * latent.weight * prompts[p].personaSensitivity)),
    );
    for (let t = offsets[p]; t < offsets[p + 1]; t++) {
      const x = data.subarray(t * dIn, (t + 1) * dIn);
      for (let i = 0; i < dIn; i++) x[i] = bDec[i] + model.noise * rng.normal();
      for (let k = 0; k < model.topicPerToken; k++)
        add(x, topic[rng.int(topic.length)], 2 + rng.exponential(1.5));
      for (let k = 0; k < model.backgroundPerToken; k++) {
        add(x, sae.backgroundLatents[rng.int(sae.backgroundLatents.length)], 2 + rng.exponential(1.5));
      }
      sae.personaLatents.forEach((latent, k) => {
        // A stronger persona fires more often and harder, as a feature being learned would.
        if (rng.bernoulli(personaRates[k]))
          add(x, latent.index, 2 + 1.5 * signal * latent.weight + rng.exponential(1));
      });
      for (const latent of sae.taskLatents) {
        if (rng.bernoulli(taskRate)) add(x, latent.index, 2 + rng.exponential(1));
      }
    }
  }
  return { nTokens, dIn, data, promptOffsets: offsets, promptNames: prompts.map((p) => p.name) };
}
