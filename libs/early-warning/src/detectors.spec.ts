import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { analyseTarget, effectSize, type Observation, parseTargetKey, targetKey } from './detectors.js';
import { decodeF32le, encodeF32le, topRising } from './model-diff.js';
import { DEFAULT_RULES, resolveRules, RulesError } from './rules.js';
import { pairedTTest } from './stats/index.js';

/** Eight prompts with a fixed pattern plus a level: paired differences are exactly `level` plus jitter. */
function obs(i: number, level: number, jitter = 0.01): Observation {
  const promptMeans = Array.from({ length: 8 }, (_, p) => 1 + 0.1 * p + level + jitter * Math.sin(7 * i + p));
  return {
    evaluationId: `e${i}`,
    step: i * 10,
    mean: promptMeans.reduce((a, b) => a + b, 0) / 8,
    promptMeans,
  };
}

describe('detectors', () => {
  test('target keys round-trip', () => {
    assert.equal(targetKey({ kind: 'latent', index: 7 }), 'latent:7');
    assert.deepEqual(parseTargetKey('direction:evil persona'), { kind: 'direction', name: 'evil persona' });
    assert.deepEqual(parseTargetKey('latent:12'), { kind: 'latent', index: 12 });
    assert.equal(parseTargetKey('latent:x'), null);
    assert.equal(parseTargetKey('neuron:1'), null);
  });

  test('effect size: baseline spread, floored by the spread of the paired differences', () => {
    const baseline = [1, 2, 3, 4];
    const current = [2, 3, 4, 5.4];
    const paired = pairedTTest(current, baseline);
    const sdBase = Math.sqrt(5 / 3);
    assert.ok(Math.abs(effectSize(1.1, baseline, paired)! - 1.1 / sdBase) < 1e-12);
    // A latent silent at baseline: the paired differences' sd is the scale.
    const silent = pairedTTest([0, 0.2, 0, 0.2], [0, 0, 0, 0])!;
    assert.ok(Math.abs(effectSize(0.1, [0, 0, 0, 0], silent)! - 0.1 / silent.sdDiff) < 1e-12);
    assert.equal(effectSize(0, [0, 0], pairedTTest([0, 0], [0, 0])), 0);
    assert.equal(effectSize(0.3, [0, 0], null), null);
  });

  test('a flat series: statistics at every checkpoint, no alert', () => {
    const points = Array.from({ length: 30 }, (_, i) => obs(i, 0));
    const { stats, episodes } = analyseTarget(points, { ...points[0], runId: 'r' }, DEFAULT_RULES);
    assert.equal(stats.length, 30);
    assert.deepEqual(episodes, []);
    assert.equal(stats[0].delta, 0);
    assert.equal(stats[0].t, 0);
    assert.ok(stats.every((s) => s.cusum === 0 && s.nPrompts === 8));
  });

  test('a rise opens threshold, CUSUM and trend alerts; the return to baseline resolves them all', () => {
    // Checkpoints 0-4 flat, 5-14 rising by 0.05 per checkpoint, 15+ back at the baseline.
    const level = (i: number) => (i >= 15 ? 0 : Math.max(0, i - 4) * 0.05);
    const points = Array.from({ length: 20 }, (_, i) => obs(i, level(i)));
    const { stats, episodes } = analyseTarget(points, { ...points[0], runId: 'r' }, DEFAULT_RULES);
    const byRule = Object.fromEntries(episodes.map((e) => [e.rule, e]));
    assert.deepEqual(Object.keys(byRule).sort(), ['cusum', 'threshold', 'trend']);
    // sd of the baseline's prompt means is ~0.245: z reaches 1 at 0.25 over baseline, checkpoint 9.
    assert.equal(byRule.threshold.openedAtStep, 90);
    assert.ok(byRule.threshold.evidence.opened.z! >= 1 && byRule.threshold.evidence.opened.pUp! < 1e-4);
    assert.equal(byRule.threshold.severity, 'warning');
    assert.equal(byRule.cusum.severity, 'critical');
    assert.equal(byRule.trend.severity, 'watch');
    for (const e of episodes) {
      assert.equal(e.resolvedAtStep, 150, e.rule);
      assert.equal(e.evidence.peak.step, 140);
      assert.equal(e.evidence.baseline.evaluationId, 'e0');
    }
    // CUSUM: S = max(0, S + min(z, 2) − 0.75), restarted at zero when its alert resolves.
    const s12 = stats[12];
    const expected = Math.max(0, stats[11].cusum + Math.min(s12.z!, 2) - 0.75);
    assert.ok(Math.abs(s12.cusum - expected) < 1e-12);
    assert.equal(stats[15].cusum, 0);
  });

  test('points arrive in any order: the analysis sorts by step', () => {
    const points = Array.from({ length: 12 }, (_, i) => obs(i, i * 0.04));
    const shuffled = [...points].reverse();
    const a = analyseTarget(points, { ...points[0], runId: 'r' }, DEFAULT_RULES);
    const b = analyseTarget(shuffled, { ...points[0], runId: 'r' }, DEFAULT_RULES);
    assert.deepEqual(b, a);
  });

  test('disabled rules and per-entry settings', () => {
    const points = Array.from({ length: 20 }, (_, i) => obs(i, Math.max(0, i - 4) * 0.05));
    const rules = resolveRules({
      cusum: { enabled: false },
      trend: { enabled: false },
      threshold: { minEffect: 3 },
    });
    const { episodes } = analyseTarget(points, { ...points[0], runId: 'r' }, rules);
    assert.deepEqual(
      episodes.map((e) => [e.rule, e.openedAtStep]),
      [['threshold', 190]],
    );
  });
});

describe('rules', () => {
  test('defaults, overrides, and refusals that name the setting', () => {
    assert.deepEqual(resolveRules(null), DEFAULT_RULES);
    const r = resolveRules({ threshold: { severity: 'critical', pMax: 0.01 } });
    assert.equal(r.threshold.severity, 'critical');
    assert.equal(r.threshold.pMax, 0.01);
    assert.equal(r.threshold.minEffect, DEFAULT_RULES.threshold.minEffect);
    assert.equal(DEFAULT_RULES.threshold.pMax, 1e-4, 'the defaults are not modified');
    assert.throws(() => resolveRules({ treshold: {} }), RulesError);
    assert.throws(() => resolveRules({ cusum: { kk: 1 } }), /rules\.cusum\.kk/);
    assert.throws(() => resolveRules({ cusum: { h: 'high' } }), /rules\.cusum\.h must be a number/);
    assert.throws(() => resolveRules({ trend: { severity: 'panic' } }), /severity must be one of/);
    assert.throws(() => resolveRules({ trend: { window: 4, minPoints: 6 } }), /minPoints/);
    assert.throws(() => resolveRules([1]), RulesError);
  });
});

describe('model diffing', () => {
  test('top rising latents: largest increase first, only increases, k at most', () => {
    const base = new Float32Array([1, 1, 1, 1, 1, 1]);
    const cur = new Float32Array([1.5, 0.5, 3, 1, 1.25, 2]);
    assert.deepEqual(
      topRising(cur, base, 3).map((l) => [l.index, l.delta]),
      [
        [2, 2],
        [5, 1],
        [0, 0.5],
      ],
    );
    assert.equal(topRising(cur, base, 10).length, 4);
    assert.throws(() => topRising(cur, new Float32Array(2), 3), /differ in length/);
  });

  test('f32le vectors round-trip, also from an unaligned buffer', () => {
    const values = new Float32Array([0.5, -2, 3.25]);
    const bytes = encodeF32le(values);
    const unaligned = Buffer.concat([Buffer.from([7]), bytes]).subarray(1);
    assert.deepEqual(decodeF32le(unaligned), values);
    assert.throws(() => decodeF32le(new Uint8Array(5)), RangeError);
  });
});
