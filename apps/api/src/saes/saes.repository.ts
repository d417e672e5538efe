import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { type SaeDto, type StoredWatchlistDto, type WatchlistDto } from './saes.dto.js';

export interface NewSae {
  id: string;
  name: string;
  format: string;
  architecture: string;
  dIn: number;
  dSae: number;
  k: number | null;
  dtype: string;
  config: Record<string, unknown>;
  objectKey: string;
  sizeBytes: number;
  sha256: string;
}

/** The sae, watchlist_latent and watchlist_direction tables. */
@Injectable()
export class SaesRepository {
  constructor(private readonly db: DataSource) {}

  /** Inserts the SAE; null when the name is taken. */
  async insert(s: NewSae): Promise<SaeDto | null> {
    const rows: SaeRow[] = await this.db.query(
      `INSERT INTO sae (id, name, format, architecture, d_in, d_sae, k, dtype, config, object_key, size_bytes, sha256)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
       ON CONFLICT (name) DO NOTHING
       RETURNING ${SAE_COLUMNS}`,
      [
        s.id,
        s.name,
        s.format,
        s.architecture,
        s.dIn,
        s.dSae,
        s.k,
        s.dtype,
        s.config,
        s.objectKey,
        s.sizeBytes,
        s.sha256,
      ],
    );
    return rows[0] ? toSae(rows[0]) : null;
  }

  async nameTaken(name: string): Promise<boolean> {
    const rows: unknown[] = await this.db.query('SELECT 1 FROM sae WHERE name = $1', [name]);
    return rows.length > 0;
  }

  async find(id: string): Promise<SaeDto | null> {
    const rows: SaeRow[] = await this.db.query(`SELECT ${SAE_COLUMNS} FROM sae WHERE id = $1`, [id]);
    return rows[0] ? toSae(rows[0]) : null;
  }

  async list(): Promise<SaeDto[]> {
    const rows: SaeRow[] = await this.db.query(`SELECT ${SAE_COLUMNS} FROM sae ORDER BY created_at DESC, id`);
    return rows.map(toSae);
  }

  /** Replaces the SAE's whole watchlist in one transaction. */
  async replaceWatchlist(saeId: string, w: WatchlistDto): Promise<StoredWatchlistDto> {
    await this.db.transaction(async (tx) => {
      // Lock the SAE row so two concurrent PUTs apply one after the other, not interleaved.
      await tx.query('SELECT 1 FROM sae WHERE id = $1 FOR UPDATE', [saeId]);
      await tx.query('DELETE FROM watchlist_latent WHERE sae_id = $1', [saeId]);
      await tx.query('DELETE FROM watchlist_direction WHERE sae_id = $1', [saeId]);
      if (w.latents.length) {
        await tx.query(
          `INSERT INTO watchlist_latent (sae_id, latent_index, label, rules)
           SELECT $1, (x->>'index')::int, x->>'label', x->'rules' FROM jsonb_array_elements($2::jsonb) AS x`,
          [saeId, JSON.stringify(w.latents)],
        );
      }
      if (w.directions.length) {
        await tx.query(
          `INSERT INTO watchlist_direction (sae_id, name, vector, rules)
           SELECT $1, x->>'name', ARRAY(SELECT jsonb_array_elements_text(x->'vector')::real), x->'rules'
             FROM jsonb_array_elements($2::jsonb) AS x`,
          [saeId, JSON.stringify(w.directions)],
        );
      }
    });
    return this.watchlist(saeId);
  }

  async watchlist(saeId: string): Promise<StoredWatchlistDto> {
    const latents: { latent_index: number; label: string; rules: Record<string, unknown> | null }[] =
      await this.db.query(
        'SELECT latent_index, label, rules FROM watchlist_latent WHERE sae_id = $1 ORDER BY latent_index',
        [saeId],
      );
    const directions: { name: string; vector: number[]; rules: Record<string, unknown> | null }[] =
      await this.db.query(
        'SELECT name, vector, rules FROM watchlist_direction WHERE sae_id = $1 ORDER BY name',
        [saeId],
      );
    return {
      saeId,
      latents: latents.map((l) => ({
        index: l.latent_index,
        label: l.label,
        ...(l.rules ? { rules: l.rules } : {}),
      })),
      directions: directions.map((d) => ({
        name: d.name,
        vector: d.vector,
        ...(d.rules ? { rules: d.rules } : {}),
      })),
    };
  }
}

const SAE_COLUMNS = 'id, name, format, architecture, d_in, d_sae, k, dtype, size_bytes, sha256, created_at';

interface SaeRow {
  id: string;
  name: string;
  format: string;
  architecture: string;
  d_in: number;
  d_sae: number;
  k: number | null;
  dtype: string;
  size_bytes: string;
  sha256: string;
  created_at: Date;
}

function toSae(r: SaeRow): SaeDto {
  return {
    id: r.id,
    name: r.name,
    format: r.format,
    architecture: r.architecture,
    dIn: r.d_in,
    dSae: r.d_sae,
    k: r.k,
    dtype: r.dtype,
    sizeBytes: Number(r.size_bytes),
    sha256: r.sha256,
    createdAt: r.created_at.toISOString(),
  };
}
