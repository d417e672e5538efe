import { exitOnSignals, loadConfigOrExit } from '../../../libs/common/src/index.js';
import { createWorkerApp } from './app.js';

const { config, logger, nestLogger } = loadConfigOrExit('worker');
const app = await createWorkerApp(config, nestLogger);
exitOnSignals(app, logger);
await app.listen(config.workerHttpPort, '0.0.0.0');
logger.info(
  { httpPort: config.workerHttpPort },
  `worker health on http://127.0.0.1:${config.workerHttpPort}`,
);
