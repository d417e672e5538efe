// `npm run bench:demo-leads`: how the shipped detectors read the demo's simulated runs over many seeds,
// without the pipeline (the demo and test/demo check that end to end). For each seed: the six demo runs
// (libs/simulate), the watched latents and direction encoded exactly as docs/engine.md defines them
// (standard ReLU SAE: only the watched columns are needed), then analyseTarget with DEFAULT_RULES,
// baseline = step 0, as the worker does. Prints a Markdown table: warned runs, first warning steps, leads
// (checkpoints from first warning to behavioural onset), benign warnings, re-aligned runs resolved.
//
// Sizes: BENCH_SEEDS (10), BENCH_D_IN (512), BENCH_D_SAE (4096), BENCH_CHECKPOINTS (12), BENCH_TOKENS (24).
import { cpus, loadavg } from 'node:os';
import { analyseTarget, type Observation } from '../libs/early-warning/src/detectors.js';
import { DEFAULT_RULES } from '../libs/early-warning/src/rules.js';
import {
  checkpointActivations,
  DEMO_SCENARIOS,
  demoScenarios,
  simulateSae,
  type SimulatedActivations,
  type SimulatedSae,
} from '../libs/simulate/src/index.js';

const env = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const SEEDS = env('BENCH_SEEDS', 10);
const D_IN = env('BENCH_D_IN', 512);
const D_SAE = env('BENCH_D_SAE', 4096);
const CHECKPOINTS = env('BENCH_CHECKPOINTS', 12);
const TOKENS = env('BENCH_TOKENS', 24);
const WARNING = new Set(['warning', 'critical']);

/** Token mean and per-prompt means of one target: a latent (ReLU of its encoder column) or a direction. */
function targetStats(
  sae: SimulatedSae,
  act: SimulatedActivations,
  target: { latent?: number; direction?: Float32Array },
): { mean: number; promptMeans: number[] } {
  const values = new Float64Array(act.nTokens);
  for (let t = 0; t < act.nTokens; t++) {
    const x = act.data.subarray(t * sae.dIn, (t + 1) * sae.dIn);
    let h = 0;
    if (target.direction) {
      for (let i = 0; i < sae.dIn; i++) h += x[i] * target.direction[i];
    } else {
      const j = target.latent!;
      h = sae.bEnc[j];
      for (let i = 0; i < sae.dIn; i++) h += (x[i] - sae.bDec[i]) * sae.wEnc[i * sae.dSae + j];
      h = Math.max(0, h);
    }
    values[t] = h;
  }
  const promptMeans: number[] = [];
  for (let p = 0; p + 1 < act.promptOffsets.length; p++) {
    let sum = 0;
    for (let t = act.promptOffsets[p]; t < act.promptOffsets[p + 1]; t++) sum += values[t];
    promptMeans.push(sum / (act.promptOffsets[p + 1] - act.promptOffsets[p]));
  }
  return { mean: values.reduce((a, b) => a + b, 0) / act.nTokens, promptMeans };
}

interface RunReading {
  firstWarning: number | null;
  onset: number | null;
  lead: number | null;
  resolved: boolean;
}

const readings = new Map<string, RunReading[]>(DEMO_SCENARIOS.map((s) => [s.name, []]));
const started = performance.now();
for (let seed = 1; seed <= SEEDS; seed++) {
  const sae = simulateSae({ dIn: D_IN, dSae: D_SAE, seed });
  const targets = [
    ...sae.personaLatents.map((l) => ({ latent: l.index })),
    { direction: sae.personaDirection },
  ];
  for (const scenario of demoScenarios(seed, { checkpoints: CHECKPOINTS, tokensPerPrompt: TOKENS })) {
    const series: Observation[][] = targets.map(() => []);
    for (const c of scenario.plan.checkpoints) {
      const act = checkpointActivations(sae, scenario.plan, c.index);
      targets.forEach((target, k) =>
        series[k].push({ evaluationId: String(c.index), step: c.step, ...targetStats(sae, act, target) }),
      );
    }
    let firstWarning: number | null = null;
    let episodes = 0;
    let open = 0;
    for (const points of series) {
      const result = analyseTarget(points, { ...points[0], runId: 'baseline' }, DEFAULT_RULES);
      for (const e of result.episodes) {
        episodes++;
        if (e.resolvedAtStep === null || e.resolvedAtStep === undefined) open++;
        if (WARNING.has(e.severity) && (firstWarning === null || e.openedAtStep < firstWarning)) {
          firstWarning = e.openedAtStep;
        }
      }
    }
    const steps = scenario.plan.checkpoints.map((c) => c.step);
    const onset = scenario.plan.behaviouralOnsetStep;
    readings.get(scenario.name)!.push({
      firstWarning,
      onset,
      lead:
        firstWarning !== null && onset !== null ? steps.indexOf(onset) - steps.indexOf(firstWarning) : null,
      resolved: episodes > 0 && open === 0,
    });
  }
}

const range = (xs: number[]) => {
  if (!xs.length) return '—';
  const sorted = [...xs].sort((a, b) => a - b);
  const median = sorted[Math.floor((sorted.length - 1) / 2)];
  return `${median} (${sorted[0]}–${sorted.at(-1)})`;
};
console.log(
  `${SEEDS} seeds × 6 runs × ${CHECKPOINTS} checkpoints; SAE ${D_IN} × ${D_SAE}; ${TOKENS} tokens × 8 prompts; ` +
    `${cpus().length} CPUs, load ${loadavg()[0].toFixed(1)}; ${((performance.now() - started) / 1000).toFixed(1)} s\n`,
);
console.log(
  '| run | warned | first warning step, median (range) | behavioural onset step | lead in checkpoints, median (range) | warned before onset | re-aligned: all alerts resolved |',
);
console.log('| --- | --- | --- | --- | --- | --- | --- |');
for (const spec of DEMO_SCENARIOS) {
  const rs = readings.get(spec.name)!;
  const warned = rs.filter((r) => r.firstWarning !== null);
  const withOnset = rs.filter((r) => r.onset !== null);
  const before = withOnset.filter((r) => r.lead !== null && r.lead > 0);
  console.log(
    `| ${spec.name} | ${warned.length}/${rs.length} | ${range(warned.map((r) => r.firstWarning!))} | ` +
      `${withOnset.length ? range(withOnset.map((r) => r.onset!)) : 'never'} | ` +
      `${range(rs.filter((r) => r.lead !== null).map((r) => r.lead!))} | ` +
      `${withOnset.length ? `${before.length}/${withOnset.length}` : '—'} | ` +
      `${spec.kind === 'realigned' ? `${rs.filter((r) => r.resolved).length}/${rs.length}` : '—'} |`,
  );
}
