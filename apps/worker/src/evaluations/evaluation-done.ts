/**
 * Something that runs after an evaluation's results have committed (the early-warning detectors). Its
 * failure is logged and never un-does, fails or un-acks the evaluation: the results are the record, and
 * the listener can recompute from Postgres on the next evaluation of the run.
 */
export interface EvaluationDoneListener {
  readonly name: string;
  onEvaluationDone(evaluationId: string): Promise<void>;
}

export const EVALUATION_DONE_LISTENERS = Symbol('EVALUATION_DONE_LISTENERS');
