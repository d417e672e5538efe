/**
 * `sentinel keys create|revoke`: manages API keys directly in the database named by DATABASE_URL (an
 * operator's tool: it needs database access, not an existing key).
 */
import { parseArgs } from 'node:util';
import { ApiKeyInputError, createApiKey, revokeApiKey } from '../../../../libs/auth/src/index.js';
import { loadConfig } from '../../../../libs/common/src/config/config.js';
import { createDataSource } from '../../../../libs/persistence/src/data-source.js';
import { CliUsageError, type Command } from '../cli-error.js';

const USAGE = `usage: sentinel keys create --project <project> --role read|write|admin [--name <text>]
       sentinel keys revoke --id <key id>

  create   makes a key for one project (or --project '*' with --role admin: every project) and prints
           it alone on the last line of stdout; only its hash is stored, so it cannot be shown again
  revoke   revokes a key by its id (the part after "snt_" and before the second "_")

Uses the database named by DATABASE_URL.`;

export const keysCommand: Command = {
  name: 'keys',
  summary: 'create or revoke API keys (needs DATABASE_URL)',
  usage: USAGE,
  async run(argv) {
    const [action, ...rest] = argv;
    let values;
    try {
      values = parseArgs({
        args: rest,
        strict: true,
        options: {
          project: { type: 'string' },
          role: { type: 'string' },
          name: { type: 'string' },
          id: { type: 'string' },
        },
      }).values;
    } catch (err) {
      throw new CliUsageError((err as Error).message);
    }
    if (action === 'create') {
      if (!values.project) throw new CliUsageError('--project is required');
      if (!values.role) throw new CliUsageError('--role is required');
    } else if (action === 'revoke') {
      if (!values.id) throw new CliUsageError('--id is required');
    } else {
      throw new CliUsageError(`expected "create" or "revoke", got "${action ?? ''}"`);
    }

    const dataSource = createDataSource(loadConfig().databaseUrl, 'sentinel-cli');
    await dataSource.initialize();
    try {
      if (action === 'create') {
        const { key, keyId } = await createApiKey(dataSource, {
          project: values.project!,
          role: values.role!,
          name: values.name,
        }).catch((err: unknown) => {
          throw err instanceof ApiKeyInputError ? new CliUsageError(err.message) : err;
        });
        process.stdout.write(`created ${values.role} key ${keyId} for project ${values.project}\n${key}\n`);
        return 0;
      }
      if (!(await revokeApiKey(dataSource, values.id!)))
        throw new Error(`no active key with id ${values.id}`);
      process.stdout.write(`revoked ${values.id}\n`);
      return 0;
    } finally {
      await dataSource.destroy();
    }
  },
};
