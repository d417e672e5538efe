// `npm run migration:run`: creates the database if missing, then applies pending migrations.
import { loadConfig } from '../../common/src/config/config.js';
import { runMigrations } from './migrations.js';

const config = loadConfig();
const applied = await runMigrations(config.databaseUrl);
console.log(applied.length ? `applied ${applied.join(', ')}` : 'schema is up to date');
