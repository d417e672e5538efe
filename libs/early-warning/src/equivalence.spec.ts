// The early-warning recompute was made cheaper (docs/benchmarks.md, "Early warning recompute"); these
// properties hold the rewritten functions to the numbers of the ones they replaced, kept below verbatim
// as references: analyseTarget (now one pass over precomputed deltas, mannKendallPUp, theilSenSlope),
// median (now a typed-array sort) and the real[] parser of the series read. Equality is
// assert.deepStrictEqual: SameValue on every number (bit-identical, −0 ≠ 0, NaN = NaN) and on every
// stat, episode and piece of evidence.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import pg from 'pg';
import { parseFloatArray } from './analysis.repository.js';
import {
  analyseTarget,
  type Baseline,
  type CheckpointStat,
  effectSize,
  type Episode,
  type Observation,
  type Snapshot,
} from './detectors.js';
import { DEFAULT_RULES, resolveRules, type RuleName, RULES, type RuleSettings } from './rules.js';
import {
  cusumStep,
  mannKendall,
  mannKendallPUp,
  median,
  medianBySort,
  normalCdf,
  pairedTTest,
  theilSenSlope,
} from './stats/index.js';

// ---- The reference: analyseTarget, mannKendall and theilSen as they were before the rewrite (commit
// 8cddde6). ----

/** mannKendall(xs)?.pUp with its ties grouped by a Map, as first written. */
function mannKendallPUpReference(xs: readonly number[]): number | null {
  const n = xs.length;
  if (n < 3) return null;
  let s = 0;
  for (let i = 0; i < n - 1; i++) {
    for (let j = i + 1; j < n; j++) s += Math.sign(xs[j] - xs[i]);
  }
  const counts = new Map<number, number>();
  for (const x of xs) counts.set(x, (counts.get(x) ?? 0) + 1);
  let ties = 0;
  for (const t of counts.values()) if (t > 1) ties += t * (t - 1) * (2 * t + 5);
  const varS = (n * (n - 1) * (2 * n + 5) - ties) / 18;
  const z = varS > 0 && s !== 0 ? (s - Math.sign(s)) / Math.sqrt(varS) : 0;
  return 1 - normalCdf(z);
}

function theilSenReference(
  xs: readonly number[],
  ys: readonly number[],
): { slope: number; intercept: number } | null {
  const n = Math.min(xs.length, ys.length);
  const slopes: number[] = [];
  for (let i = 0; i < n - 1; i++) {
    for (let j = i + 1; j < n; j++) {
      if (xs[j] !== xs[i]) slopes.push((ys[j] - ys[i]) / (xs[j] - xs[i]));
    }
  }
  if (!slopes.length) return null;
  const slope = medianBySort(slopes);
  return { slope, intercept: medianBySort(ys.slice(0, n).map((y, i) => y - slope * xs[i])) };
}

function snapshotReference(stat: CheckpointStat): Snapshot {
  const { evaluationId: _id, ...rest } = stat;
  return { ...rest };
}

function analyseTargetReference(
  points: readonly Observation[],
  baseline: Baseline,
  rules: RuleSettings,
): { stats: CheckpointStat[]; episodes: Episode[] } {
  const ordered = [...points].sort((a, b) => a.step - b.step);
  const stats: CheckpointStat[] = [];
  const episodes: Episode[] = [];
  const open = new Map<RuleName, Episode>();
  const baselineRef = { runId: baseline.runId, step: baseline.step, evaluationId: baseline.evaluationId };
  let s = 0;

  for (let i = 0; i < ordered.length; i++) {
    const point = ordered[i];
    const delta = point.mean - baseline.mean;
    const paired = pairedTTest(point.promptMeans, baseline.promptMeans);
    const z = effectSize(delta, baseline.promptMeans, paired);
    if (z !== null)
      s = cusumStep(s, Math.max(-rules.cusum.clip, Math.min(rules.cusum.clip, z)), rules.cusum.k);

    let trendP: number | null = null;
    let trendSlope: number | null = null;
    const window = ordered.slice(Math.max(0, i - rules.trend.window + 1), i + 1);
    if (window.length >= rules.trend.minPoints) {
      const deltas = window.map((w) => w.mean - baseline.mean);
      trendP = mannKendallPUpReference(deltas);
      trendSlope =
        theilSenReference(
          window.map((w) => w.step),
          deltas,
        )?.slope ?? null;
    }

    const stat: CheckpointStat = {
      evaluationId: point.evaluationId,
      step: point.step,
      mean: point.mean,
      baselineMean: baseline.mean,
      delta,
      nPrompts: paired?.n ?? 0,
      se: paired?.se ?? null,
      t: paired?.t ?? null,
      p: paired?.p ?? null,
      pUp: paired?.pUp ?? null,
      z,
      cusum: s,
      trendP,
      trendSlope,
    };

    const within =
      (z !== null && z <= rules.resolve.maxEffect) || (stat.pUp !== null && stat.pUp >= rules.resolve.pMin);
    const fires: Record<RuleName, boolean> = {
      threshold:
        rules.threshold.enabled &&
        z !== null &&
        stat.pUp !== null &&
        stat.pUp < rules.threshold.pMax &&
        z >= rules.threshold.minEffect,
      cusum: rules.cusum.enabled && s > rules.cusum.h,
      trend:
        rules.trend.enabled &&
        trendP !== null &&
        trendP < rules.trend.pMax &&
        (trendSlope ?? 0) > 0 &&
        z !== null &&
        z >= rules.trend.minEffect,
    };

    let resetCusum = false;
    for (const rule of RULES) {
      const current = open.get(rule);
      if (current) {
        if (within) {
          current.resolvedAtStep = point.step;
          current.evidence.resolved = snapshotReference(stat);
          current.evidence.latest = snapshotReference(stat);
          open.delete(rule);
          if (rule === 'cusum') resetCusum = true;
        } else {
          current.evidence.latest = snapshotReference(stat);
          if (z !== null && (current.evidence.peak.z === null || z > current.evidence.peak.z)) {
            current.evidence.peak = { step: point.step, delta, z };
          }
        }
      } else if (fires[rule]) {
        const episode: Episode = {
          rule,
          severity: rules[rule].severity,
          openedAtStep: point.step,
          resolvedAtStep: null,
          evidence: {
            baseline: baselineRef,
            settings: { ...rules[rule], resolve: rules.resolve },
            opened: snapshotReference(stat),
            latest: snapshotReference(stat),
            peak: { step: point.step, delta, z },
          },
        };
        open.set(rule, episode);
        episodes.push(episode);
      }
    }
    if (resetCusum) {
      s = 0;
      stat.cusum = 0;
    }
    stats.push(stat);
  }
  return { stats, episodes };
}

// ---- Generators: series with ties, zeros of both signs, repeated steps, drifts and odd prompt counts. ----

const special = fc.constantFrom(0, -0, 1, 0.5, 0.25, 2, -1);
const value = fc.oneof(
  { weight: 4, arbitrary: fc.double({ min: -3, max: 3, noNaN: true }) },
  { weight: 2, arbitrary: special },
  { weight: 1, arbitrary: fc.double({ min: -3, max: 3, noNaN: true }).map((x) => Math.fround(x)) },
);

function seriesArb(prompts: number) {
  return fc
    .record({
      length: fc.integer({ min: 0, max: 60 }),
      drift: fc.constantFrom(0, 0.01, 0.05, 0.2),
      noise: fc.constantFrom(0, 0.001, 0.05, 0.5),
      onset: fc.integer({ min: 0, max: 40 }),
      seed: fc.integer({ min: 1, max: 2 ** 30 }),
      repeatSteps: fc.boolean(),
      raw: fc.array(value, { minLength: 0, maxLength: 8 }),
    })
    .map(({ length, drift, noise, onset, seed, repeatSteps, raw }) => {
      let state = seed;
      const rnd = () => ((state = (state * 48271) % 2147483647) / 2147483647) * 2 - 1;
      const points: Observation[] = [];
      for (let i = 0; i < length; i++) {
        const level = i >= onset ? drift * (i - onset) : 0;
        // Some checkpoints take a raw value (ties, ±0) for every prompt; most are level + noise.
        const rawValue = raw.length && i % 5 === 0 ? raw[i % raw.length] : null;
        const promptMeans = Array.from({ length: prompts }, (_, p) =>
          rawValue !== null ? rawValue : 0.5 + 0.01 * p + level + noise * rnd(),
        );
        const mean = promptMeans.length ? promptMeans.reduce((a, b) => a + b, 0) / promptMeans.length : level;
        points.push({
          evaluationId: `e${i}`,
          step: repeatSteps ? Math.floor(i / 2) * 50 : i * 50,
          mean: rawValue !== null ? rawValue : mean,
          promptMeans,
        });
      }
      // Arrival order is not step order.
      for (let i = points.length - 1; i > 0; i--) {
        const j = Math.abs(Math.round(rnd() * i));
        [points[i], points[j]] = [points[j], points[i]];
      }
      return points;
    });
}

const rulesArb = fc.oneof(
  fc.constant(DEFAULT_RULES),
  fc
    .record({
      window: fc.oneof(fc.integer({ min: 3, max: 25 }), fc.constantFrom(4.5, 10.25)),
      minPointsFrom: fc.integer({ min: 3, max: 25 }),
      pMax: fc.constantFrom(0.01, 0.2, 0.5),
      h: fc.constantFrom(0.5, 4),
      minEffect: fc.constantFrom(0, 0.5, 1),
    })
    .map(({ window, minPointsFrom, pMax, h, minEffect }) =>
      resolveRules({
        trend: { window, minPoints: Math.min(minPointsFrom, Math.floor(window)), pMax, minEffect },
        cusum: { h },
        threshold: { pMax: 0.05, minEffect },
      }),
    ),
);

const caseArb = fc.integer({ min: 0, max: 33 }).chain((prompts) =>
  fc.record({
    points: seriesArb(prompts),
    // The baseline usually has the same prompts; sometimes another count (no pairing).
    baselinePrompts: fc.oneof(
      { weight: 5, arbitrary: fc.constant(prompts) },
      { weight: 1, arbitrary: fc.integer({ min: 0, max: 33 }) },
    ),
    baselineLevel: fc.oneof(special, fc.double({ min: -1, max: 1, noNaN: true })),
    rules: rulesArb,
  }),
);

function baselineOf(points: Observation[], prompts: number, level: number): Baseline {
  const promptMeans = Array.from({ length: prompts }, (_, p) => 0.5 + 0.01 * p + level * (p % 2));
  return {
    evaluationId: points[0]?.evaluationId ?? 'base',
    step: 0,
    runId: 'run',
    mean: promptMeans.length ? promptMeans.reduce((a, b) => a + b, 0) / promptMeans.length : level,
    promptMeans,
  };
}

describe('early-warning rewrite: identical results', () => {
  test('analyseTarget equals the reference on random series (stats, episodes, evidence)', () => {
    fc.assert(
      fc.property(caseArb, ({ points, baselinePrompts, baselineLevel, rules }) => {
        const baseline = baselineOf(points, baselinePrompts, baselineLevel);
        assert.deepStrictEqual(
          analyseTarget(points, baseline, rules),
          analyseTargetReference(points, baseline, rules),
        );
      }),
      { numRuns: 400, seed: 20261129 },
    );
  });

  test('analyseTarget equals the reference on long drifting series (alerts open and resolve)', () => {
    let episodes = 0;
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 2 ** 30 }),
        fc.constantFrom(32, 8),
        fc.constantFrom(100, 300),
        (seed, prompts, length) => {
          let state = seed;
          const rnd = () => ((state = (state * 48271) % 2147483647) / 2147483647) * 2 - 1;
          // Rise, fall back, rise again: every rule opens and resolves along the way.
          const level = (i: number) => Math.max(0, Math.sin((i / length) * 4 * Math.PI)) * 0.3;
          const points: Observation[] = Array.from({ length }, (_, i) => {
            const promptMeans = Array.from({ length: prompts }, (_, p) =>
              Math.fround(0.5 + 0.01 * p + level(i) + 0.02 * rnd()),
            );
            return {
              evaluationId: `e${i}`,
              step: i * 50,
              mean: promptMeans.reduce((a, b) => a + b, 0) / prompts,
              promptMeans,
            };
          });
          const baseline = { ...points[0], runId: 'run' };
          const out = analyseTarget(points, baseline, DEFAULT_RULES);
          episodes += out.episodes.length;
          assert.deepStrictEqual(out, analyseTargetReference(points, baseline, DEFAULT_RULES));
        },
      ),
      { numRuns: 40, seed: 7 },
    );
    assert.ok(episodes > 40, `the series should open alerts (${episodes} episodes)`);
  });

  test('median equals the comparator sort: ties, ±0 in any order, infinities, NaN', () => {
    const element = fc.oneof(
      fc.double({ noNaN: true }),
      fc.constantFrom(0, -0, 1, -1, Infinity, -Infinity, 2.5),
      fc.constant(NaN),
    );
    fc.assert(
      fc.property(fc.array(element, { minLength: 0, maxLength: 150 }), (xs) => {
        assert.deepStrictEqual(median(xs), medianBySort(xs));
        assert.deepStrictEqual(median(Float64Array.from(xs)), medianBySort(xs));
      }),
      { numRuns: 2000, seed: 42 },
    );
    // The middle of [0, −0, 1] is its −0 (the comparator sort keeps the zeros in input order), and vice versa.
    assert.ok(Object.is(median([0, -0, 1]), -0) && Object.is(median([-0, 0, 1]), 0));
  });

  test('mannKendall, mannKendallPUp and theilSenSlope equal the references over the same window', () => {
    const element = fc.oneof(fc.double({ min: -5, max: 5 }), fc.constantFrom(0, -0, 1, NaN, Infinity));
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 20 }), element), { minLength: 0, maxLength: 40 }),
        fc.nat(),
        fc.nat(),
        (pairs, a, b) => {
          const xs = pairs.map((p) => p[0]);
          const ys = pairs.map((p) => p[1]);
          const from = pairs.length ? a % (pairs.length + 1) : 0;
          const to = from + (pairs.length - from ? b % (pairs.length - from + 1) : 0);
          const window = ys.slice(from, to);
          assert.deepStrictEqual(mannKendallPUp(ys, from, to), mannKendallPUpReference(window));
          assert.deepStrictEqual(mannKendall(window)?.pUp ?? null, mannKendallPUpReference(window));
          assert.deepStrictEqual(
            theilSenSlope(xs, ys, from, to),
            theilSenReference(xs.slice(from, to), ys.slice(from, to))?.slope ?? null,
          );
        },
      ),
      { numRuns: 2000, seed: 3 },
    );
  });

  test("parseFloatArray equals pg's real[] parser on what Postgres prints, and on anything else", () => {
    const reference = (pg.types.getTypeParser as (oid: number, format: 'text') => (s: string) => unknown)(
      1021,
      'text',
    );
    const element = fc.oneof(
      fc.double().map((x) => String(Math.fround(x))),
      fc.double().map(String),
      fc.constantFrom('NaN', 'Infinity', '-Infinity', '-0', '0', 'NULL', '1e-05', '3.4028235e+38'),
    );
    const text = fc.oneof(
      { weight: 5, arbitrary: fc.array(element, { maxLength: 40 }).map((xs) => `{${xs.join(',')}}`) },
      {
        weight: 1,
        arbitrary: fc.constantFrom(
          '{}',
          '{{1,2},{3,4}}',
          '[0:1]={1,2}',
          '{"1.5",NULL}',
          '{1,,2}',
          '{ 1, 2 }',
          '{1\\,2}',
        ),
      },
    );
    fc.assert(
      fc.property(text, (s) => assert.deepStrictEqual(parseFloatArray(s), reference(s))),
      { numRuns: 3000, seed: 11 },
    );
    assert.equal(parseFloatArray(null), null);
  });
});
