import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type DataSource } from 'typeorm';
import { createDataSource, RunEntity, SaeEntity } from '../../libs/persistence/src/index.js';
import { testConfig } from '../support/config.js';

let dataSource: DataSource;

before(async () => {
  dataSource = createDataSource(testConfig().databaseUrl);
  await dataSource.initialize();
});
after(async () => {
  await dataSource.destroy();
});

test('writes a run through TypeORM and reads it back from Postgres', async () => {
  const sae = await dataSource.getRepository(SaeEntity).save({
    name: `pg-test-${Date.now()}`,
    format: 'saelens',
    architecture: 'jumprelu',
    dIn: 16,
    dSae: 64,
    k: null,
    dtype: 'F32',
    config: {},
    objectKey: 'test/sae',
    sizeBytes: '1024',
    sha256: 'ab'.repeat(32),
  });
  const saved = await dataSource.getRepository(RunEntity).save({
    name: 'run-a',
    project: 'proj',
    model: 'llama',
    saeId: sae.id,
    baselineStep: null,
    baselineRunId: null,
    metadata: { lr: 1e-5 },
  });
  const rows: { name: string; metadata: { lr: number } }[] = await dataSource.query(
    'SELECT name, metadata FROM run WHERE id = $1',
    [saved.id],
  );
  assert.deepEqual(rows, [{ name: 'run-a', metadata: { lr: 1e-5 } }]);

  await assert.rejects(
    dataSource.query(
      `INSERT INTO evaluation (run_id, step, status, content_sha256, object_key, size_bytes, n_tokens)
                      VALUES ($1, 0, 'bogus', 'x', 'k', 1, 1)`,
      [saved.id],
    ),
    /violates check constraint/,
  );
});
