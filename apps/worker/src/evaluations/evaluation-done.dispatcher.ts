import { Inject, Injectable, Logger } from '@nestjs/common';
import { EVALUATION_DONE_LISTENERS, type EvaluationDoneListener } from './evaluation-done.js';

/**
 * Runs the post-commit listeners off the job's path: the job is acknowledged as soon as its results
 * commit, and its slot pulls the next job while early warning works.
 *
 * Per run, at most one listener pass runs at a time, and evaluations that finish meanwhile are coalesced
 * into one more pass for the latest of them: the listeners recompute a run's state from Postgres
 * (idempotent, order-free), so one pass after a burst covers every evaluation in it. `drain()` waits for
 * all passes (the transport calls it when it closes, while Postgres is still open).
 */
@Injectable()
export class EvaluationDoneDispatcher {
  private readonly logger = new Logger(EvaluationDoneDispatcher.name);
  private readonly runs = new Map<string, { next?: string; done: Promise<void> }>();

  constructor(@Inject(EVALUATION_DONE_LISTENERS) private readonly listeners: EvaluationDoneListener[]) {}

  notify(runId: string, evaluationId: string): void {
    const active = this.runs.get(runId);
    if (active) {
      active.next = evaluationId;
      return;
    }
    const state: { next?: string; done: Promise<void> } = { next: evaluationId, done: Promise.resolve() };
    state.done = (async () => {
      try {
        while (state.next !== undefined) {
          const id = state.next;
          state.next = undefined;
          await this.runListeners(id);
        }
      } finally {
        this.runs.delete(runId);
      }
    })();
    this.runs.set(runId, state);
  }

  async drain(): Promise<void> {
    while (this.runs.size) await Promise.all([...this.runs.values()].map((s) => s.done));
  }

  private async runListeners(evaluationId: string): Promise<void> {
    for (const listener of this.listeners) {
      try {
        await listener.onEvaluationDone(evaluationId);
      } catch (err) {
        // Never un-does the evaluation: its results are committed and acknowledged.
        this.logger.error({ err, evaluationId, listener: listener.name }, 'post-commit listener failed');
      }
    }
  }
}
