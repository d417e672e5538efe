import { exitOnSignals, loadConfigOrExit } from '../../../libs/common/src/index.js';
import { createApiApp } from './app.js';
import { connectGrpc } from './grpc.js';

const { config, logger, nestLogger } = loadConfigOrExit('api');
const app = await createApiApp(config, nestLogger);
exitOnSignals(app, logger);
// gRPC (sentinel.v1 services, with server reflection) on GRPC_PORT, next to REST on HTTP_PORT.
connectGrpc(app, config);
await app.startAllMicroservices();
await app.listen(config.httpPort, '0.0.0.0');
logger.info(
  { httpPort: config.httpPort, grpcPort: config.grpcPort },
  `api listening on http://127.0.0.1:${config.httpPort}, gRPC on 127.0.0.1:${config.grpcPort}`,
);
