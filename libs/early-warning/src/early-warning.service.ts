import { Injectable } from '@nestjs/common';

/**
 * Early warning of emergent misalignment for one run: recomputes, from what Postgres holds, the paired
 * statistics of every watched latent and direction at every done checkpoint, the detector state over
 * those checkpoints, the alerts, and the latents that rose most over the baseline (model diffing).
 */
@Injectable()
export class EarlyWarningService {
  /**
   * Called by the worker after an evaluation's results commit. Idempotent: it recomputes the run's state
   * from Postgres, so running it twice (or for checkpoints that arrive out of order) changes nothing the
   * second time. All writes happen in one transaction; alert changes are published after the commit.
   */
  async processEvaluation(evaluationId: string): Promise<void> {
    void evaluationId;
  }
}
