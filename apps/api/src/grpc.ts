import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type INestApplication } from '@nestjs/common';
import { type GrpcOptions, Transport } from '@nestjs/microservices';
import { ReflectionService } from '@grpc/reflection';
import { type SentinelConfig } from '../../../libs/common/src/index.js';

/** proto/sentinel/v1 next to the build (copy-assets puts it at <build>/proto): apps/api/src → 3 levels up. */
export const PROTO_DIR = fileURLToPath(new URL('../../../proto/sentinel/v1/', import.meta.url));

/** Every .proto of package sentinel.v1, so a feature adds its service by adding a file. */
export function protoFiles(): string[] {
  return readdirSync(PROTO_DIR)
    .filter((f) => f.endsWith('.proto'))
    .sort()
    .map((f) => join(PROTO_DIR, f));
}

/** proto-loader options shared by the server and the clients in tests: camelCase fields, absent = unset. */
export const PROTO_LOADER_OPTIONS = {
  keepCase: false,
  longs: String,
  enums: String,
  defaults: true,
  arrays: true,
  oneofs: false,
};

export function grpcOptions(config: SentinelConfig, port = config.grpcPort): GrpcOptions {
  return {
    transport: Transport.GRPC,
    options: {
      url: `0.0.0.0:${port}`,
      package: 'sentinel.v1',
      protoPath: protoFiles(),
      loader: PROTO_LOADER_OPTIONS,
      // Server reflection, so grpcurl and generated clients in any language can discover the services.
      onLoadPackageDefinition: (pkg, server) => {
        new ReflectionService(pkg).addToServer(server as Parameters<ReflectionService['addToServer']>[0]);
      },
    },
  };
}

/** Adds the gRPC server to the API app; the caller starts it with app.startAllMicroservices(). */
export function connectGrpc(app: INestApplication, config: SentinelConfig, port?: number): void {
  // inheritAppConfig: the app's global guard (API keys) and filters apply to gRPC methods too.
  app.connectMicroservice<GrpcOptions>(grpcOptions(config, port), { inheritAppConfig: true });
}
