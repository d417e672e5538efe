import { exitOnSignals, loadConfigOrExit } from '../../../libs/common/src/index.js';
import { createWorkerApp } from './app.js';

const { config, logger, nestLogger } = loadConfigOrExit('worker');
const app = await createWorkerApp(config, nestLogger);
// Draining finishes the evaluations in hand, which can take far longer than the API's 9 s: stay within
// the Deployment's terminationGracePeriodSeconds (120, k8s/base/worker.yaml). A worker killed earlier
// loses nothing: its jobs are redelivered.
exitOnSignals(app, logger, 110_000);
await app.listen(config.workerHttpPort, '0.0.0.0');
logger.info(
  { httpPort: config.workerHttpPort },
  `worker health on http://127.0.0.1:${config.workerHttpPort}`,
);
