/**
 * The detectors, as a pure function of one target's series: given every done checkpoint of a run (in
 * step order) and the baseline checkpoint, the per-checkpoint statistics and the alert episodes each rule
 * opened and resolved. Nothing here reads or writes; processEvaluation recomputes it all from Postgres, so
 * state never depends on the order checkpoints arrived in.
 */
import { type RuleName, type RuleSettings, RULES, type Severity } from './rules.js';
import { cusumStep, mannKendallPUp, pairedTTest, sampleSd, theilSenSlope } from './stats/index.js';

export type TargetKind = 'latent' | 'direction';

export interface Target {
  kind: TargetKind;
  index?: number;
  name?: string;
}

/** The key alerts and statistics are stored under: `latent:<index>` or `direction:<name>`. */
export function targetKey(target: Target): string {
  return target.kind === 'latent' ? `latent:${target.index}` : `direction:${target.name}`;
}

export function parseTargetKey(key: string): Target | null {
  const m = /^(latent|direction):(.+)$/.exec(key);
  if (!m) return null;
  if (m[1] === 'latent') return /^\d+$/.test(m[2]) ? { kind: 'latent', index: Number(m[2]) } : null;
  return { kind: 'direction', name: m[2] };
}

export interface Observation {
  evaluationId: string;
  step: number;
  mean: number;
  /** Mean activation per evaluation prompt, in the prompts' fixed order. */
  promptMeans: number[];
}

export interface Baseline extends Observation {
  runId: string;
}

export interface CheckpointStat {
  evaluationId: string;
  step: number;
  mean: number;
  baselineMean: number;
  /** mean − baseline mean. */
  delta: number;
  /** Prompts paired with the baseline (0 when the prompt counts differ). */
  nPrompts: number;
  /** Paired statistics over prompts: standard error of the mean difference, t, two-sided p, one-sided p. */
  se: number | null;
  t: number | null;
  p: number | null;
  pUp: number | null;
  /** delta in units of the baseline's spread across prompts (see effectSize). */
  z: number | null;
  /** Upper CUSUM of z after this checkpoint (0 again after an alert of the rule resolves). */
  cusum: number;
  /** Mann–Kendall one-sided p and Theil–Sen slope (delta per step) over the trailing window. */
  trendP: number | null;
  trendSlope: number | null;
}

export type Snapshot = Omit<CheckpointStat, 'evaluationId'>;

export interface Episode {
  rule: RuleName;
  severity: Severity;
  openedAtStep: number;
  resolvedAtStep: number | null;
  evidence: {
    baseline: { runId: string; step: number; evaluationId: string };
    settings: Record<string, unknown>;
    opened: Snapshot;
    latest: Snapshot;
    peak: { step: number; delta: number; z: number | null };
    resolved?: Snapshot;
  };
}

/**
 * The effect size z: delta in units of the baseline's spread across prompts (sd of the baseline's prompt
 * means), with that spread floored by the sd of the paired differences. A sparse latent (a persona latent
 * of the base model fires on a few tokens) has a tiny, noisy baseline spread; dividing by it alone turns
 * sampling noise into effects of 5 baseline SDs. The floor keeps z on the scale of the noise the paired
 * test sees, so z ≥ 1 means "a rise at least as large as either the prompt-to-prompt variation or the
 * checkpoint-to-checkpoint noise".
 */
export function effectSize(
  delta: number,
  baseline: number[],
  paired: ReturnType<typeof pairedTTest>,
): number | null {
  return effectSizeFromSd(delta, sampleSd(baseline), paired);
}

/** effectSize with the baseline's spread computed once (it is the same at every checkpoint). */
function effectSizeFromSd(
  delta: number,
  baselineSd: number,
  paired: ReturnType<typeof pairedTTest>,
): number | null {
  const scale = Math.max(baselineSd, paired?.sdDiff ?? 0);
  if (scale > 0) return delta / scale;
  return delta === 0 ? 0 : null;
}

export function analyseTarget(
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
  // Per run, not per checkpoint: the baseline's spread, every delta and step (the trend windows read
  // ranges of them) and one scratch buffer for the Theil–Sen slopes. The numbers are computed as before.
  const baselineSd = sampleSd(baseline.promptMeans);
  const deltas = new Float64Array(ordered.length);
  const steps = new Float64Array(ordered.length);
  for (let i = 0; i < ordered.length; i++) {
    deltas[i] = ordered[i].mean - baseline.mean;
    steps[i] = ordered[i].step;
  }
  const w = Math.min(Math.ceil(rules.trend.window) || 0, ordered.length);
  const slopes = new Float64Array(Math.max(0, (w * (w - 1)) / 2));

  for (let i = 0; i < ordered.length; i++) {
    const point = ordered[i];
    const delta = point.mean - baseline.mean;
    const paired = pairedTTest(point.promptMeans, baseline.promptMeans);
    const z = effectSizeFromSd(delta, baselineSd, paired);
    if (z !== null)
      s = cusumStep(s, Math.max(-rules.cusum.clip, Math.min(rules.cusum.clip, z)), rules.cusum.k);

    let trendP: number | null = null;
    let trendSlope: number | null = null;
    const from = windowStart(i, rules.trend.window);
    if (i + 1 - from >= rules.trend.minPoints) {
      // mannKendall(window deltas)?.pUp and theilSen(window steps, window deltas)?.slope, without copies.
      trendP = mannKendallPUp(deltas, from, i + 1);
      trendSlope = theilSenSlope(steps, deltas, from, i + 1, slopes);
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
          current.evidence.resolved = snapshot(stat);
          current.evidence.latest = snapshot(stat);
          open.delete(rule);
          if (rule === 'cusum') resetCusum = true;
        } else {
          current.evidence.latest = snapshot(stat);
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
            opened: snapshot(stat),
            latest: snapshot(stat),
            peak: { step: point.step, delta, z },
          },
        };
        open.set(rule, episode);
        episodes.push(episode);
      }
    }
    // A resolved CUSUM alarm restarts monitoring from zero (the usual restart after a signal).
    if (resetCusum) {
      s = 0;
      stat.cusum = 0;
    }
    stats.push(stat);
  }
  return { stats, episodes };
}

/**
 * Where checkpoint i's trend window starts: the start `ordered.slice(Math.max(0, i − window + 1), i + 1)`
 * used (slice truncates a fractional start, reads NaN as 0 and stops at the end).
 */
function windowStart(i: number, window: number): number {
  const start = Math.max(0, i - window + 1);
  return Number.isNaN(start) ? 0 : Math.min(Math.trunc(start), i + 1);
}

function snapshot(stat: CheckpointStat): Snapshot {
  const { evaluationId: _id, ...rest } = stat;
  return { ...rest };
}
