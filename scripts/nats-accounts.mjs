// Prints Sentinel's NATS account (users and subject permissions, from
// libs/messaging/src/nats-permissions.ts) for a NATS_PREFIX, from the build:
//   node scripts/nats-accounts.mjs [prefix] > docker/nats-accounts.conf   # nats-server -c (compose)
//   node scripts/nats-accounts.mjs [prefix] --helm                        # config.merge.accounts (YAML)
// test/deploy fails when docker/nats-accounts.conf or k8s/helm/nats-values.yaml differ from it.
import { join } from 'node:path';
import { stringify } from 'yaml';

const root = new URL('..', import.meta.url).pathname;
const dist = join(root, process.env.SENTINEL_DIST ?? 'dist');
const { natsAccounts, natsConfText } = await import(join(dist, 'libs/messaging/src/nats-permissions.js'));

const args = process.argv.slice(2);
const prefix = args.find((a) => !a.startsWith('--')) ?? 'sentinel';
process.stdout.write(
  args.includes('--helm') ? stringify({ accounts: natsAccounts(prefix) }) : natsConfText(prefix),
);
