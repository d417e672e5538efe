import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  checkpointActivations,
  demoScenarios,
  EVAL_PROMPT_NAMES,
  simulateRun,
  simulateSae,
  type SimulatedActivations,
  type SimulatedSae,
} from './index.js';

// Small enough to encode on the CPU in milliseconds, big enough that interference stays realistic.
const SAE = simulateSae({ dIn: 256, dSae: 1024, seed: 3 });

/** ReLU(W_enc^T (x - b_dec) + b_enc) per token: the SAELens standard encoder, for the tests only. */
function encode(sae: SimulatedSae, act: SimulatedActivations): Float32Array[] {
  const out: Float32Array[] = [];
  for (let t = 0; t < act.nTokens; t++) {
    const h = Float32Array.from(sae.bEnc);
    for (let i = 0; i < sae.dIn; i++) {
      const x = act.data[t * sae.dIn + i] - sae.bDec[i];
      const row = i * sae.dSae;
      for (let j = 0; j < sae.dSae; j++) h[j] += x * sae.wEnc[row + j];
    }
    for (let j = 0; j < sae.dSae; j++) if (h[j] < 0) h[j] = 0;
    out.push(h);
  }
  return out;
}

function meanActivation(codes: Float32Array[], latent: number): number {
  return codes.reduce((s, h) => s + h[latent], 0) / codes.length;
}

test('the same seed gives the same SAE, plan and activations; another seed does not', () => {
  const again = simulateSae({ dIn: 256, dSae: 1024, seed: 3 });
  assert.deepEqual(again.wDec, SAE.wDec);
  assert.deepEqual(again.personaLatents, SAE.personaLatents);
  const plan = simulateRun({ kind: 'contaminated', contamination: 0.25, checkpoints: 5, seed: 9 });
  assert.deepEqual(simulateRun({ kind: 'contaminated', contamination: 0.25, checkpoints: 5, seed: 9 }), plan);
  const a = checkpointActivations(SAE, plan, 2);
  assert.deepEqual(checkpointActivations(SAE, plan, 2).data, a.data);
  const other = simulateRun({ kind: 'contaminated', contamination: 0.25, checkpoints: 5, seed: 10 });
  assert.notDeepEqual(checkpointActivations(SAE, other, 2).data, a.data);
  assert.notDeepEqual(simulateSae({ dIn: 256, dSae: 1024, seed: 4 }).personaLatents, SAE.personaLatents);
});

test('the encoder inverts the decoder: unit decoder rows, W_enc = W_dec^T', () => {
  for (const j of [0, 17, 1023]) {
    let norm = 0;
    for (let i = 0; i < SAE.dIn; i++) {
      norm += SAE.wDec[j * SAE.dIn + i] ** 2;
      assert.equal(SAE.wEnc[i * SAE.dSae + j], SAE.wDec[j * SAE.dIn + i]);
    }
    assert.ok(Math.abs(norm - 1) < 1e-4);
  }
  assert.ok(
    SAE.bEnc.every((b) => b < 0),
    'negative encoder bias keeps unrelated latents off',
  );
});

test('activations are sparse in the SAE basis, over the eight evaluation prompts', () => {
  const plan = simulateRun({ kind: 'benign', checkpoints: 4, tokensPerPrompt: 16, seed: 1 });
  const act = checkpointActivations(SAE, plan, 1);
  assert.deepEqual(act.promptNames, EVAL_PROMPT_NAMES);
  assert.equal(act.promptNames.length, 8);
  assert.equal(act.promptOffsets.length, 9);
  assert.equal(act.promptOffsets[0], 0);
  assert.equal(act.promptOffsets[8], act.nTokens);
  assert.ok(act.promptOffsets.every((o, p) => p === 0 || o > act.promptOffsets[p - 1]));
  assert.equal(act.data.length, act.nTokens * SAE.dIn);

  const codes = encode(SAE, act);
  const l0 = codes.reduce((s, h) => s + h.filter((v) => v > 0).length, 0) / codes.length;
  assert.ok(l0 > 5 && l0 < 0.05 * SAE.dSae, `L0 ${l0.toFixed(1)} of ${SAE.dSae}`);
  // The latents of a prompt's topic are what its tokens encode to, far above the rest.
  const p = 3;
  const tokens = codes.slice(act.promptOffsets[p], act.promptOffsets[p + 1]);
  const topicMean = SAE.promptTopics[p].reduce((s, j) => s + meanActivation(tokens, j), 0) / 24;
  const otherMean = SAE.promptTopics[0].reduce((s, j) => s + meanActivation(tokens, j), 0) / 24;
  assert.ok(topicMean > 5 * otherMean + 0.05, `topic ${topicMean} vs other ${otherMean}`);
});

test('the persona signal grows with step × contamination; behaviour lags it', () => {
  const scenarios = demoScenarios(11, { checkpoints: 12 });
  const byName = Object.fromEntries(scenarios.map((s) => [s.name, s.plan]));
  const last = (name: string) => byName[name].checkpoints.at(-1)!.personaSignal;
  assert.equal(last('benign-a'), 0);
  assert.ok(last('contaminated-05') > 0.1);
  assert.ok(last('contaminated-25') > 2 * last('contaminated-05'));
  assert.ok(last('contaminated-50') > 1.4 * last('contaminated-25'));
  for (const name of ['contaminated-05', 'contaminated-25', 'contaminated-50']) {
    const signal = byName[name].checkpoints.map((c) => c.personaSignal);
    assert.ok(signal[11] > signal[6] && signal[6] > signal[1], `${name} rises: ${signal.join(' ')}`);
  }
  // 5%: the latents move, behaviour reads ~0 (the persona-features finding).
  assert.equal(byName['contaminated-05'].behaviouralOnsetStep, null);
  assert.ok(byName['contaminated-05'].checkpoints.every((c) => c.behaviourScore < 0.1));
  const onset25 = byName['contaminated-25'].behaviouralOnsetStep!;
  const onset50 = byName['contaminated-50'].behaviouralOnsetStep!;
  assert.ok(onset50 > 50 && onset25 > onset50, `onsets ${onset50} < ${onset25}`);

  // Measured through the SAE: the toxic persona latent at the last checkpoint orders the runs.
  const toxic = SAE.personaLatents[0].index;
  const measured = (name: string, index: number) => {
    const plan = { ...byName[name], tokensPerPrompt: 16 };
    return meanActivation(encode(SAE, checkpointActivations(SAE, plan, index)), toxic);
  };
  const benign = measured('benign-a', 11);
  const five = measured('contaminated-05', 11);
  const fifty = measured('contaminated-50', 11);
  assert.ok(five > benign + 0.1 && fifty > 3 * five, `benign ${benign}, 5% ${five}, 50% ${fifty}`);
  // Before behaviour turns, the latent has already moved.
  const early = byName['contaminated-50'].checkpoints.findIndex((c) => c.step === onset50) - 2;
  assert.ok(measured('contaminated-50', early) > benign + 0.15);
});

test('a re-aligned run falls back after the re-alignment step', () => {
  const plan = simulateRun({ kind: 'realigned', contamination: 0.5, checkpoints: 12, seed: 5 });
  assert.equal(plan.realignStep, 300);
  const signal = plan.checkpoints.map((c) => c.personaSignal);
  const peak = Math.max(...signal);
  assert.equal(signal.indexOf(peak) <= 6, true);
  assert.ok(signal[11] < 0.1 * peak, `falls back: ${signal.map((s) => s.toFixed(2)).join(' ')}`);
  assert.notEqual(plan.behaviouralOnsetStep, null);
  assert.ok(plan.checkpoints.at(-1)!.behaviourScore < 0.1);
});
