// `npm run demo`: simulated fine-tuning runs through the whole system (apps/demo). Uses DATABASE_URL and
// NATS_URL when they answer, else starts its own; `--exit` ends when the table is printed, otherwise the
// API and dashboard keep serving until Ctrl-C. `npm run demo -- --help` lists the flags.
import { ConfigError, loadConfig } from '../libs/common/src/config/config.js';
import { DEMO_USAGE, parseDemoArgs, UsageError } from '../apps/demo/src/args.js';
import { Cleanup, runDemo } from '../apps/demo/src/demo.js';

let options;
let config;
try {
  options = parseDemoArgs(process.argv.slice(2));
  config = loadConfig();
} catch (err) {
  if (err instanceof UsageError) {
    if (err.message) console.error(`demo: ${err.message}`);
    console.error(DEMO_USAGE);
    process.exit(err.message ? 2 : 0);
  }
  if (err instanceof ConfigError) {
    console.error(`demo: ${err.message}`);
    process.exit(2);
  }
  throw err;
}

const cleanup = new Cleanup();
let stopping = false;
const stop = (code: number) => {
  if (stopping) return;
  stopping = true;
  process.stderr.write('\nstopping the demo (API, workers, and any Postgres/NATS it started)…\n');
  void cleanup.run().finally(() => process.exit(code));
};
process.on('SIGINT', () => stop(130));
process.on('SIGTERM', () => stop(143));

try {
  await runDemo(options, config, { out: process.stdout, err: process.stderr }, cleanup);
} catch (err) {
  console.error(`\ndemo failed: ${err instanceof Error ? err.message : String(err)}`);
  stop(1);
}
if (!stopping) {
  if (options.exit) stop(0);
  else process.stderr.write('Serving until Ctrl-C.\n');
}
