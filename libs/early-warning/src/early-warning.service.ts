import { Injectable, Logger } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { AlertDispatcher } from './alert-dispatcher.service.js';
import { type DerivedEpisodes, AlertsRepository } from './alerts.repository.js';
import { AnalysisRepository, type TargetStatRow } from './analysis.repository.js';
import { analyseTarget, targetKey } from './detectors.js';
import { decodeF32le, topRising } from './model-diff.js';
import { resolveRules, RulesError, DEFAULT_RULES } from './rules.js';

/** How many rising latents model diffing keeps per evaluation. */
export const RISING_TOP_K = 20;

export interface ProcessResult {
  runId: string | null;
  baselineStep: number | null;
  checkpoints: number;
  targets: number;
  alertEvents: number;
  risingComputed: number;
}

/**
 * Early warning of emergent misalignment for one run: recomputes, from what Postgres holds, the paired
 * statistics of every watched latent and direction at every done checkpoint, the detector state over
 * those checkpoints, the alerts, and the latents that rose most over the baseline (model diffing).
 */
@Injectable()
export class EarlyWarningService {
  private readonly log = new Logger('EarlyWarning');

  constructor(
    private readonly dataSource: DataSource,
    private readonly analysis: AnalysisRepository,
    private readonly alerts: AlertsRepository,
    private readonly dispatcher: AlertDispatcher,
  ) {}

  /**
   * Called by the worker after an evaluation's results commit. Idempotent: it recomputes the run's state
   * from Postgres, so running it twice (or for checkpoints that arrive out of order) changes nothing the
   * second time. All writes happen in one transaction; alert changes are published after the commit.
   */
  async processEvaluation(evaluationId: string): Promise<void> {
    await this.process(evaluationId);
  }

  /** processEvaluation with a summary of what it did (tests and the CLI use it). */
  async process(evaluationId: string): Promise<ProcessResult> {
    const result = await this.dataSource.transaction(async (m) => {
      const out: ProcessResult = {
        runId: null,
        baselineStep: null,
        checkpoints: 0,
        targets: 0,
        alertEvents: 0,
        risingComputed: 0,
      };
      const runId = await this.analysis.findEvaluationRun(m, evaluationId);
      if (!runId) return out;
      const run = await this.analysis.lockRun(m, runId);
      if (!run) return out;
      out.runId = run.id;
      const baseline = await this.analysis.findBaseline(m, run);
      if (!baseline) {
        // No baseline checkpoint done yet: nothing can be compared; earlier derived rows would be stale.
        await this.analysis.deleteRunDerived(m, run.id);
        return out;
      }
      out.baselineStep = baseline.step;

      const watched = await this.analysis.watchlist(m, run.sae_id);
      const series = await this.analysis.series(m, run.sae_id, { runId: run.id });
      const baselineSeries =
        baseline.runId === run.id
          ? series
          : await this.analysis.series(m, run.sae_id, { evaluationId: baseline.id });

      const statRows: TargetStatRow[] = [];
      const derived: DerivedEpisodes[] = [];
      const steps = new Set<number>();
      for (const target of watched) {
        const key = targetKey(target);
        const points = series.get(key) ?? [];
        const base = (baselineSeries.get(key) ?? []).find((o) => o.evaluationId === baseline.id);
        if (!base || !points.length) {
          derived.push({ target, episodes: [] });
          continue;
        }
        let rules = DEFAULT_RULES;
        try {
          rules = resolveRules(target.rules);
        } catch (err) {
          // The watchlist API validates rules; a bad row written around it falls back to the defaults.
          if (!(err instanceof RulesError)) throw err;
          this.log.warn(
            { runId: run.id, target: key, err: err.message },
            'invalid watchlist rules, using defaults',
          );
        }
        const { stats, episodes } = analyseTarget(points, { ...base, runId: baseline.runId }, rules);
        const latentIndex = target.kind === 'latent' ? target.index! : null;
        const directionName = target.kind === 'direction' ? target.name! : null;
        for (const s of stats) {
          steps.add(s.step);
          // Field by field rather than `{ ...s, … }`: the spread of 16,000 objects a call was a tenth of it.
          statRows.push({
            evaluationId: s.evaluationId,
            step: s.step,
            mean: s.mean,
            baselineMean: s.baselineMean,
            delta: s.delta,
            nPrompts: s.nPrompts,
            se: s.se,
            t: s.t,
            p: s.p,
            pUp: s.pUp,
            z: s.z,
            cusum: s.cusum,
            trendP: s.trendP,
            trendSlope: s.trendSlope,
            target: key,
            kind: target.kind,
            latentIndex,
            directionName,
          });
        }
        derived.push({ target, episodes });
        out.targets++;
      }
      out.checkpoints = steps.size;
      await this.analysis.replaceTargetStats(m, run.id, baseline.id, statRows);
      const latestStep = Math.max(baseline.step, ...steps);
      const events = await this.alerts.reconcile(m, run, derived, latestStep);
      out.alertEvents = events.length;
      out.risingComputed = await this.computeRising(m, run.id, baseline.id);
      return out;
    });
    // After commit: the outbox goes to NATS now, to webhooks in the background. A failure here is retried
    // by the dispatcher's sweep; the alert itself is already on record.
    if (result.alertEvents > 0) await this.dispatcher.afterCommit();
    return result;
  }

  private async computeRising(
    m: Parameters<AnalysisRepository['meanVector']>[0],
    runId: string,
    baselineEvaluationId: string,
  ): Promise<number> {
    const pending = await this.analysis.evaluationsNeedingRising(m, runId, baselineEvaluationId);
    if (!pending.length) return 0;
    const baseBytes = await this.analysis.meanVector(m, baselineEvaluationId);
    if (!baseBytes) return 0;
    const base = decodeF32le(baseBytes);
    let computed = 0;
    for (const evaluation of pending) {
      const bytes = await this.analysis.meanVector(m, evaluation.id);
      if (!bytes) continue;
      const current = decodeF32le(bytes);
      if (current.length !== base.length) continue;
      await this.analysis.writeRising(
        m,
        evaluation,
        runId,
        baselineEvaluationId,
        topRising(current, base, RISING_TOP_K),
      );
      computed++;
    }
    return computed;
  }
}
