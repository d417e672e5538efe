// `npm run demo` (until the simulated-runs demo lands): migrates, starts the API and one worker in this
// process's children, and prints where they listen. Ctrl-C stops both.
import { spawn } from 'node:child_process';
import { loadConfig } from '../libs/common/src/index.js';
import { runMigrations } from '../libs/persistence/src/index.js';

const config = loadConfig();
await runMigrations(config.databaseUrl);
const children = ['apps/api/src/main.js', 'apps/worker/src/main.js'].map((entry) =>
  spawn(process.execPath, [new URL(`../${entry}`, import.meta.url).pathname], { stdio: 'inherit' }),
);
console.log(
  `API:    http://127.0.0.1:${config.httpPort} (OpenAPI at /docs)\nWorker: http://127.0.0.1:${config.workerHttpPort}/readyz`,
);
const stop = () => children.forEach((c) => c.kill('SIGTERM'));
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
