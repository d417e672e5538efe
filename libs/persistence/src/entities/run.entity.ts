import { Column, CreateDateColumn, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';

@Entity('run')
@Index('run_project_model_idx', ['project', 'model'])
@Index('run_sae_idx', ['saeId'])
export class RunEntity {
  @PrimaryGeneratedColumn('uuid') id!: string;
  @Column({ type: 'text' }) name!: string;
  @Column({ type: 'text' }) project!: string;
  @Column({ type: 'text' }) model!: string;
  @Column({ type: 'uuid', name: 'sae_id' }) saeId!: string;
  /** The checkpoint the run is compared with; null means its lowest step. */
  @Column({ type: 'integer', name: 'baseline_step', nullable: true }) baselineStep!: number | null;
  /** Another run whose checkpoint is the baseline; null means this run. */
  @Column({ type: 'uuid', name: 'baseline_run_id', nullable: true }) baselineRunId!: string | null;
  @Column({ type: 'jsonb', default: {} }) metadata!: Record<string, unknown>;
  @CreateDateColumn({ type: 'timestamptz', name: 'created_at' }) createdAt!: Date;
}
