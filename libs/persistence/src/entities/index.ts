import {
  EvaluationDirectionEntity,
  EvaluationEntity,
  EvaluationLatentEntity,
  EvaluationTopLatentEntity,
  EvaluationVectorsEntity,
} from './evaluation.entity.js';
import { RunEntity } from './run.entity.js';
import { SaeEntity, WatchlistDirectionEntity, WatchlistLatentEntity } from './sae.entity.js';

export * from './evaluation.entity.js';
export * from './run.entity.js';
export * from './sae.entity.js';

/** Every entity; the DataSource registers exactly these. */
export const entities = [
  SaeEntity,
  WatchlistLatentEntity,
  WatchlistDirectionEntity,
  RunEntity,
  EvaluationEntity,
  EvaluationLatentEntity,
  EvaluationDirectionEntity,
  EvaluationVectorsEntity,
  EvaluationTopLatentEntity,
];
