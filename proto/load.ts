// Loads kx.proto at runtime (see the header of kx.proto for why there is no codegen).
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

export const PROTO_FILE = fileURLToPath(new URL('./kx.proto', import.meta.url));

/** Decoding options that give the shapes declared in proto/messages.ts. */
export const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: false,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
  bytes: Buffer,
};

export interface RadarProto {
  /** The service definition for grpc.Server.addService. */
  service: grpc.ServiceDefinition;
  /** Client constructor with one method per rpc (Handshake, GetManifest, ...). */
  Client: grpc.ServiceClientConstructor;
  definition: protoLoader.PackageDefinition;
}

/** Parse kx.proto. Cheap (milliseconds); callers keep the result for their lifetime. */
export function loadRadarProto(): RadarProto {
  const definition = protoLoader.loadSync(PROTO_FILE, LOADER_OPTIONS);
  const pkg = grpc.loadPackageDefinition(definition) as unknown as { kx: { v1: { Radar: grpc.ServiceClientConstructor } } };
  const Client = pkg.kx.v1.Radar;
  return { service: Client.service, Client, definition };
}
