// Loads status.proto (no code generation: proto-loader reads it at run time).

import { loadPackageDefinition, type GrpcObject, type ServiceClientConstructor } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { fileURLToPath } from 'node:url';

export const STATUS_PROTO = fileURLToPath(new URL('./status.proto', import.meta.url));

export function statusService(): ServiceClientConstructor {
  const definition = loadSync(STATUS_PROTO, { keepCase: false, longs: Number, enums: String, defaults: false, oneofs: true });
  const pkg = loadPackageDefinition(definition) as unknown as { kx: { status: { v1: GrpcObject } } };
  return pkg.kx.status.v1.Status as ServiceClientConstructor;
}
