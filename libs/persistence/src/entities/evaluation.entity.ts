import { Column, Entity, Index, PrimaryColumn, PrimaryGeneratedColumn, Unique } from 'typeorm';

export type EvaluationStatus = 'queued' | 'running' | 'done' | 'failed';

@Entity('evaluation')
@Unique(['runId', 'step'])
@Index('evaluation_run_done_idx', ['runId', 'step'], { where: "status = 'done'" })
@Index('evaluation_done_recent_idx', ['finishedAt'], { where: "status = 'done'" })
@Index('evaluation_activations_retained_idx', ['finishedAt'], {
  where: "activations_deleted_at IS NULL AND status IN ('done', 'failed')",
})
export class EvaluationEntity {
  @PrimaryGeneratedColumn('uuid') id!: string;
  @Column({ type: 'uuid', name: 'run_id' }) runId!: string;
  @Column({ type: 'integer' }) step!: number;
  @Column({ type: 'text', default: 'queued' }) status!: EvaluationStatus;
  @Column({ type: 'text', nullable: true }) error!: string | null;
  /** sha256 of the uploaded bytes: the same (run, step) with the same bytes is the same evaluation. */
  @Column({ type: 'text', name: 'content_sha256' }) contentSha256!: string;
  @Column({ type: 'text', name: 'object_key' }) objectKey!: string;
  @Column({ type: 'bigint', name: 'size_bytes' }) sizeBytes!: string;
  @Column({ type: 'integer', name: 'n_tokens' }) nTokens!: number;
  @Column({ type: 'integer', name: 'n_prompts', default: 0 }) nPrompts!: number;
  @Column({ type: 'integer', default: 0 }) attempts!: number;
  /** NATS_PREFIX of the deployment whose queue carries the job; its sweeper alone re-publishes it. */
  @Column({ type: 'text', name: 'nats_prefix', nullable: true }) natsPrefix!: string | null;
  @Column({ type: 'text', name: 'worker_id', nullable: true }) workerId!: string | null;
  @Column({ type: 'text', nullable: true }) backend!: string | null;
  @Column({ type: 'text', nullable: true }) adapter!: string | null;
  @Column({ type: 'jsonb', nullable: true }) timings!: Record<string, number> | null;
  @Column({ type: 'timestamptz', name: 'submitted_at', default: () => 'now()' }) submittedAt!: Date;
  @Column({ type: 'timestamptz', name: 'published_at', nullable: true }) publishedAt!: Date | null;
  @Column({ type: 'timestamptz', name: 'started_at', nullable: true }) startedAt!: Date | null;
  @Column({ type: 'timestamptz', name: 'heartbeat_at', nullable: true }) heartbeatAt!: Date | null;
  @Column({ type: 'timestamptz', name: 'finished_at', nullable: true }) finishedAt!: Date | null;
  /** When the API's retention pass deleted the activations object (ACTIVATIONS_RETENTION_HOURS). */
  @Column({ type: 'timestamptz', name: 'activations_deleted_at', nullable: true })
  activationsDeletedAt!: Date | null;
}

@Entity('evaluation_latent')
@Index('evaluation_latent_latent_idx', ['latentIndex', 'evaluationId'])
export class EvaluationLatentEntity {
  @PrimaryColumn({ type: 'uuid', name: 'evaluation_id' }) evaluationId!: string;
  @PrimaryColumn({ type: 'integer', name: 'latent_index' }) latentIndex!: number;
  @Column({ type: 'double precision' }) mean!: number;
  @Column({ type: 'double precision', name: 'frac_active' }) fracActive!: number;
  @Column({ type: 'double precision' }) max!: number;
  @Column({ type: 'real', array: true, name: 'prompt_means', default: () => "'{}'" }) promptMeans!: number[];
}

@Entity('evaluation_direction')
export class EvaluationDirectionEntity {
  @PrimaryColumn({ type: 'uuid', name: 'evaluation_id' }) evaluationId!: string;
  @PrimaryColumn({ type: 'text' }) name!: string;
  @Column({ type: 'double precision' }) mean!: number;
  @Column({ type: 'real', array: true, name: 'prompt_means', default: () => "'{}'" }) promptMeans!: number[];
}

@Entity('evaluation_vectors')
export class EvaluationVectorsEntity {
  @PrimaryColumn({ type: 'uuid', name: 'evaluation_id' }) evaluationId!: string;
  @Column({ type: 'integer', name: 'd_sae' }) dSae!: number;
  @Column({ type: 'text', default: 'f32le' }) encoding!: string;
  @Column({ type: 'bytea', nullable: true }) mean!: Buffer | null;
  @Column({ type: 'bytea', name: 'frac_active', nullable: true }) fracActive!: Buffer | null;
  @Column({ type: 'text', name: 'object_key', nullable: true }) objectKey!: string | null;
}

@Entity('evaluation_top_latent')
export class EvaluationTopLatentEntity {
  @PrimaryColumn({ type: 'uuid', name: 'evaluation_id' }) evaluationId!: string;
  @PrimaryColumn({ type: 'integer' }) rank!: number;
  @Column({ type: 'integer', name: 'latent_index' }) latentIndex!: number;
  @Column({ type: 'double precision' }) mean!: number;
}
