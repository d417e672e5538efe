import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The project a resource belongs to, for the access guard. */
@Injectable()
export class ResourceProjectsRepository {
  constructor(private readonly dataSource: DataSource) {}

  private static readonly SQL = {
    run: `SELECT project FROM run WHERE id = $1`,
    evaluation: `SELECT r.project FROM evaluation e JOIN run r ON r.id = e.run_id WHERE e.id = $1`,
    alert: `SELECT project FROM alert WHERE id = $1`,
    webhook: `SELECT project FROM webhook WHERE id = $1`,
  } as const;

  /** null when the id is malformed or names nothing (the handler then answers its own 400/404). */
  async projectOf(kind: keyof typeof ResourceProjectsRepository.SQL, id: string): Promise<string | null> {
    if (!UUID.test(id)) return null;
    const rows: { project: string }[] = await this.dataSource.query(ResourceProjectsRepository.SQL[kind], [
      id,
    ]);
    return rows[0]?.project ?? null;
  }
}
