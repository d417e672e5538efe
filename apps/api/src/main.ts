import { exitOnSignals, loadConfigOrExit } from '../../../libs/common/src/index.js';
import { createApiApp } from './app.js';

const { config, logger, nestLogger } = loadConfigOrExit('api');
const app = await createApiApp(config, nestLogger);
exitOnSignals(app, logger);
await app.listen(config.httpPort, '0.0.0.0');
logger.info({ httpPort: config.httpPort }, `api listening on http://127.0.0.1:${config.httpPort}`);
