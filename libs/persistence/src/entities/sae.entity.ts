import { Column, CreateDateColumn, Entity, PrimaryColumn, PrimaryGeneratedColumn } from 'typeorm';

export type SaeFormat = 'saelens' | 'gemma-scope' | 'sparsify';
export type SaeArchitecture = 'standard' | 'jumprelu' | 'topk';

@Entity('sae')
export class SaeEntity {
  @PrimaryGeneratedColumn('uuid') id!: string;
  @Column({ type: 'text', unique: true }) name!: string;
  @Column({ type: 'text' }) format!: SaeFormat;
  @Column({ type: 'text' }) architecture!: SaeArchitecture;
  @Column({ type: 'integer', name: 'd_in' }) dIn!: number;
  @Column({ type: 'integer', name: 'd_sae' }) dSae!: number;
  @Column({ type: 'integer', nullable: true }) k!: number | null;
  @Column({ type: 'text' }) dtype!: string;
  @Column({ type: 'jsonb', default: {} }) config!: Record<string, unknown>;
  @Column({ type: 'text', name: 'object_key' }) objectKey!: string;
  @Column({ type: 'bigint', name: 'size_bytes' }) sizeBytes!: string;
  @Column({ type: 'text' }) sha256!: string;
  @CreateDateColumn({ type: 'timestamptz', name: 'created_at' }) createdAt!: Date;
}

@Entity('watchlist_latent')
export class WatchlistLatentEntity {
  @PrimaryColumn({ type: 'uuid', name: 'sae_id' }) saeId!: string;
  @PrimaryColumn({ type: 'integer', name: 'latent_index' }) latentIndex!: number;
  @Column({ type: 'text' }) label!: string;
  /** Detector settings for this entry (early-warning rules); null means the defaults. */
  @Column({ type: 'jsonb', nullable: true }) rules!: Record<string, unknown> | null;
}

@Entity('watchlist_direction')
export class WatchlistDirectionEntity {
  @PrimaryColumn({ type: 'uuid', name: 'sae_id' }) saeId!: string;
  @PrimaryColumn({ type: 'text' }) name!: string;
  @Column({ type: 'real', array: true }) vector!: number[];
  @Column({ type: 'jsonb', nullable: true }) rules!: Record<string, unknown> | null;
}
