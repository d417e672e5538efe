// `npm test`: runs every compiled unit test (dist/**/*.spec.js) and integration test
// (dist/test/**/*.test.js) with node:test against the real Postgres and NATS.
// The run gets a database and a NATS name prefix of its own, and removes both afterwards.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
// SENTINEL_DIST lets several builds of one checkout coexist (e.g. .build/<name>); default dist/.
const dist = process.env.SENTINEL_DIST ? join(root, process.env.SENTINEL_DIST) : join(root, 'dist');
if (!existsSync(dist)) {
  console.error(`${dist} is missing: run \`npm run build\` first (npm test does it in pretest).`);
  process.exit(2);
}

const { loadConfig } = await import(join(dist, 'libs/common/src/config/config.js'));
const { runMigrations, dropDatabase } = await import(join(dist, 'libs/persistence/src/index.js'));
const { deleteNatsResources } = await import(join(dist, 'test/support/nats-cleanup.js'));

const runId = `${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
const base = loadConfig();
const dbUrl = new URL(base.databaseUrl);
dbUrl.pathname = `/sentinel_test_${runId}`;
const env = {
  ...process.env,
  DATABASE_URL: dbUrl.toString(),
  NATS_PREFIX: `t_${runId}`,
  LOG_LEVEL: process.env.LOG_LEVEL ?? 'silent',
};

const filter = process.argv.slice(2);
const files = collect(dist).filter(
  (f) => /\.(spec|test)\.js$/.test(f) && (!filter.length || filter.some((p) => f.includes(p))),
);
if (files.length === 0) {
  console.error('no test files matched');
  process.exit(2);
}

console.log(
  `test run ${runId}: database ${dbUrl.pathname.slice(1)}, NATS prefix ${env.NATS_PREFIX}, ${files.length} files`,
);
await runMigrations(env.DATABASE_URL);

let code;
try {
  code = await new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      [
        '--test',
        '--enable-source-maps',
        '--test-reporter=spec',
        '--test-reporter-destination=stdout',
        `--test-reporter=${join(root, 'scripts/test-summary-reporter.mjs')}`,
        '--test-reporter-destination=stdout',
        ...files,
      ],
      { env, stdio: 'inherit' },
    );
    child.on('exit', (c, signal) => resolve(c ?? (signal ? 1 : 0)));
  });
} finally {
  await dropDatabase(env.DATABASE_URL).catch((err) =>
    console.error(`could not drop test database: ${err.message}`),
  );
  await deleteNatsResources(base.natsUrl, env.NATS_PREFIX).catch((err) =>
    console.error(`could not remove test streams: ${err.message}`),
  );
}
process.exit(code);

function collect(dir) {
  const out = [];
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) out.push(...collect(path));
    else out.push(path);
  }
  return out.sort();
}
