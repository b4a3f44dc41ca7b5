// A raw Apply stream to radar, batch by batch on ONE stream (as RadarClient keeps one open between batches): what a long-lived
// or hostile client does.
import * as grpc from '@grpc/grpc-js';
import { once } from 'node:events';
import type { Hasher } from '../../../pkg/sync/hash.ts';
import { loadRadarProto } from '../../../proto/load.ts';
import type * as M from '../../../proto/messages.ts';
import { METADATA_AUTHORIZATION, METADATA_PROTOCOL_VERSION, PROTOCOL_VERSION } from '../../../proto/version.ts';

export type RawStub = grpc.Client & Record<string, (...args: unknown[]) => unknown>;

export function rawStub(address: string): RawStub {
  const { Client } = loadRadarProto();
  return new Client(address, grpc.credentials.createInsecure()) as unknown as RawStub;
}

export function metadata(token: string | undefined): grpc.Metadata {
  const m = new grpc.Metadata();
  if (token !== undefined) m.set(METADATA_AUTHORIZATION, `Bearer ${token}`);
  m.set(METADATA_PROTOCOL_VERSION, String(PROTOCOL_VERSION));
  return m;
}

export function opMsg(op: Partial<M.OpMsg> & { op: string; path: string }): M.OpMsg {
  return { from: '', mode: 0o644, size: 0, digest: '', basis: '', blockSize: 0, linkTarget: '', ...op };
}

/** The items of a whole-file write of `text`. */
export function writeItems(hasher: Hasher, path: string, text: string, mode = 0o644): M.ApplyItem[] {
  const data = Buffer.from(text);
  const h = hasher.stream();
  h.update(data);
  return [
    { item: 'op', op: opMsg({ op: 'write', path, mode, mtimeMs: 1_000_000, size: data.length, digest: h.digest(), basis: 'whole' }) },
    { item: 'literal', literal: { data, deflated: false, rawSize: 0 } },
    { item: 'end', end: { abort: false, reason: '', code: '', digest: '' } },
  ];
}

/** One open Apply stream: send a batch, get its ack, or the status that ended the stream. */
export class ApplyStream {
  readonly #call: grpc.ClientDuplexStream<M.ApplyFrame, M.ApplyAck>;
  readonly #acks: M.ApplyAck[] = [];
  readonly #ended: Promise<grpc.ServiceError | undefined>;
  #opened = false;
  readonly #target: M.Target;

  constructor(stub: RawStub, token: string | undefined, target: M.Target) {
    this.#target = target;
    this.#call = (stub.Apply as (m: grpc.Metadata) => grpc.ClientDuplexStream<M.ApplyFrame, M.ApplyAck>)(metadata(token));
    this.#call.on('data', (ack: M.ApplyAck) => this.#acks.push(ack));
    this.#ended = new Promise((resolve) => {
      this.#call.on('error', (err: grpc.ServiceError) => resolve(err));
      this.#call.on('status', (s: grpc.StatusObject) => {
        if (s.code === grpc.status.OK) resolve(undefined);
      });
    });
  }

  /** Send one batch (its items, then flush). Resolves with its ack, or rejects with the status that ended the stream. */
  async batch(items: M.ApplyItem[]): Promise<M.ApplyAck> {
    const want = this.#acks.length + 1;
    this.send({ items, flush: true });
    for (;;) {
      if (this.#acks.length >= want) return this.#acks[want - 1];
      const ended = await Promise.race([this.#ended, once(this.#call, 'data').then(() => 'data' as const)]);
      if (ended !== 'data') {
        if (this.#acks.length >= want) return this.#acks[want - 1];
        throw ended ?? new Error('stream ended without an ack');
      }
    }
  }

  /** Send a frame as is (the first carries `open`). */
  send(frame: Omit<M.ApplyFrame, 'open'>): void {
    const open = this.#opened ? null : { target: this.#target };
    this.#opened = true;
    this.#call.write({ open, ...frame });
  }

  /** The status that ended the stream (undefined: OK). */
  ended(): Promise<grpc.ServiceError | undefined> {
    return this.#ended;
  }

  end(): void {
    this.#call.end();
  }

  cancel(): void {
    this.#call.cancel();
  }
}
