// Loads kx.proto at runtime (see the header of kx.proto for why there is no codegen), and any other .proto of kx's
// (the daemon's status.proto): protobufjs parses it and the service definition is built here with @grpc/proto-loader's codec semantics (fromObject+encode, decode+toObject
// with LOADER_OPTIONS): proto-loader itself also builds descriptor protos of every message for reflection, which
// kx never uses and which cost ~50 ms of every process start (import and load).
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import { decodeApplyFrame, encodeApplyFrame } from './apply-frame-codec.ts';
import type { ApplyFrame } from './messages.ts';

export const PROTO_FILE = fileURLToPath(new URL('./kx.proto', import.meta.url));

/** Decoding options that give the shapes declared in proto/messages.ts. */
export const LOADER_OPTIONS: protobuf.IConversionOptions = {
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
  bytes: Buffer,
};

const SERVICE = 'kx.v1.Radar';

export interface RadarProto {
  /** The service definition for grpc.Server.addService. */
  service: grpc.ServiceDefinition;
  /** Client constructor with one method per rpc (Handshake, GetManifest, ...). */
  Client: grpc.ServiceClientConstructor;
  /**
   * A message with a long repeated field, encoded a slice at a time with the event loop let through in between
   * (a ManifestRequest with 50,000 known entries takes hundreds of ms to encode in one go). Pass the result as the
   * request: the client's serializer sends encoded bytes as they are.
   */
  encodeSliced(message: string, head: object, field: string, items: Iterable<object>, sliceMs?: number): Promise<Buffer>;
}

/** Parse kx.proto. Cheap (milliseconds); callers keep the result for their lifetime. */
export function loadRadarProto(): RadarProto {
  const root = parseProto(PROTO_FILE);
  const Client = serviceClient(root, SERVICE, LOADER_OPTIONS);
  return { service: Client.service, Client, encodeSliced: (message, head, field, items, sliceMs) => encodeSliced(root.lookupType(message), head, field, items, sliceMs ?? 10) };
}

/** A .proto file parsed and resolved, fields in camelCase (keepCase false), as proto-loader would hand them over. */
export function parseProto(file: string): protobuf.Root {
  const root = new protobuf.Root().loadSync(file, { keepCase: false });
  root.resolveAll();
  return root;
}

/**
 * A client constructor (its `service`: the definition for grpc.Server.addService) for service `name` of `root`,
 * whose messages are encoded with fromObject+encode and decoded with decode+toObject(`options`), as
 * @grpc/proto-loader's loadSync with the same options would build it.
 */
export function serviceClient(root: protobuf.Root, name: string, options: protobuf.IConversionOptions): grpc.ServiceClientConstructor {
  const service: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const m of root.lookupService(name).methodsArray) {
    const req = m.resolvedRequestType!;
    const res = m.resolvedResponseType!;
    service[m.name] = {
      path: `/${name}/${m.name}`,
      requestStream: m.requestStream === true,
      responseStream: m.responseStream === true,
      requestSerialize: serializer(req),
      requestDeserialize: deserializer(req, options),
      responseSerialize: serializer(res),
      responseDeserialize: deserializer(res, options),
      originalName: m.name.charAt(0).toLowerCase() + m.name.slice(1),
    };
  }
  return grpc.makeClientConstructor(service, name);
}

async function encodeSliced(type: protobuf.Type, head: object, field: string, items: Iterable<object>, sliceMs: number): Promise<Buffer> {
  const f = type.fields[field];
  if (!f?.repeated || !(f.resolvedType instanceof protobuf.Type)) throw new Error(`${type.name}.${field}: not a repeated message field`);
  const itemType = f.resolvedType;
  // Fields of a message may come in any order and pieces of it concatenated: the head, then each item as field f.
  const parts: Uint8Array[] = [type.encode(type.fromObject(head)).finish()];
  let writer = protobuf.Writer.create();
  let sliceStart = performance.now();
  for (const item of items) {
    itemType.encode(itemType.fromObject(item), writer.uint32((f.id << 3) | 2).fork()).ldelim();
    if (performance.now() - sliceStart >= sliceMs) {
      parts.push(writer.finish());
      writer = protobuf.Writer.create();
      await yieldToEventLoop();
      sliceStart = performance.now();
    }
  }
  parts.push(writer.finish());
  return Buffer.concat(parts);
}

function serializer(type: protobuf.Type): (value: unknown) => Buffer {
  // The sender's bulk message, written directly (apply-frame-codec.ts): reflection cost more than the copy of its bytes.
  if (type.fullName === '.kx.v1.ApplyFrame') {
    return (value) => (Buffer.isBuffer(value) ? value : encodeApplyFrame(value as ApplyFrame));
  }
  return (value) => {
    if (Buffer.isBuffer(value)) return value; // encoded already (encodeSliced)
    if (Array.isArray(value)) throw new Error(`Failed to serialize message: expected object with ${type.name} structure, got array instead`);
    return type.encode(type.fromObject(value as Record<string, unknown>)).finish() as Buffer;
  };
}

function deserializer(type: protobuf.Type, options: protobuf.IConversionOptions): (bytes: Buffer) => unknown {
  // radar's bulk message, read directly (apply-frame-codec.ts) into what toObject below would build.
  if (type.fullName === '.kx.v1.ApplyFrame') return decodeApplyFrame;
  return (bytes) => type.toObject(type.decode(bytes), options);
}
