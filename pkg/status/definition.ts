// Loads status.proto (no code generation: parsed at run time, as proto/load.ts does kx.proto).

import type { ServiceClientConstructor } from '@grpc/grpc-js';
import type protobuf from 'protobufjs';
import { fileURLToPath } from 'node:url';
import { parseProto, serviceClient } from '../../proto/load.ts';

const STATUS_PROTO = fileURLToPath(new URL('./status.proto', import.meta.url));

/** How status.proto's messages decode: 64-bit counts as numbers, enums as their names. */
const DECODE: protobuf.IConversionOptions = { longs: Number, enums: String, defaults: false, oneofs: true };

export function statusService(): ServiceClientConstructor {
  return serviceClient(parseProto(STATUS_PROTO), 'kx.status.v1.Status', DECODE);
}

/** The Control service, whose replies and requests decode with their defaults filled in. */
export function controlService(): ServiceClientConstructor {
  return serviceClient(parseProto(STATUS_PROTO), 'kx.status.v1.Control', { ...DECODE, defaults: true });
}
