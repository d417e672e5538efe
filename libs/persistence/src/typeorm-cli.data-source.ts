// Entry point for the TypeORM CLI (`npm run migration:generate`): the same DataSource the apps use.
import { loadConfig } from '../../common/src/config/config.js';
import { createDataSource } from './data-source.js';

export default createDataSource(loadConfig().databaseUrl, 'sentinel-migrations');
