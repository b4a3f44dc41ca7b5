// kx's gRPC client of radar: a sync Receiver bound to one target, plus handshake, describe and reload.
// It takes an address, or an existing grpc.Channel (e.g. one over a tunnel) that it then does not own.
import * as grpc from '@grpc/grpc-js';
import { ErrorCode, KxError } from '../sync/errors.ts';
import type { BatchOp, BatchResult, IgnoreRuleSet, Manifest, Receiver, RelPath, Signature } from '../sync/types.ts';
import type { Entry } from '../sync/types.ts';
import { entryFromMsg, rulesToMsg, signatureFromMsg } from '../wire/convert.ts';
import { loadRadarProto, type RadarProto } from '../../proto/load.ts';
import type * as M from '../../proto/messages.ts';
import { fromServiceError } from '../wire/status.ts';
import {
  Capability,
  MAX_MESSAGE_BYTES,
  METADATA_AUTHORIZATION,
  METADATA_PROTOCOL_VERSION,
  PROTOCOL_VERSION,
} from '../../proto/version.ts';
import { CompressionPolicy } from './compression-policy.ts';
import { ApplyCall, WarmApply } from './apply-call.ts';
import { writeBatch } from './frame-writer.ts';
import { encodeKnown } from './known-entries.ts';

export interface RemoteTarget {
  /** "" = radar's default root. */
  readonly containerId: string;
  readonly runtime?: string;
  readonly remotePath?: string;
  readonly owner?: { readonly uid: number; readonly gid: number };
  /** Keep set-id and sticky bits of synced modes (radar strips them unless asked). */
  readonly keepSetIdBits?: boolean;
}

export type RadarClientOptions = {
  readonly target: RemoteTarget;
  readonly token?: string;
  /** Sent in Handshake for radar's logs. */
  readonly clientName?: string;
  /** Allow literal compression (used only when radar offers it, and while it pays on the link). Default true. */
  readonly compress?: boolean;
} & (
  | { readonly address: string; readonly channelOptions?: grpc.ChannelOptions }
  /** A channel someone else owns (e.g. over a tunnel): close() leaves it open. */
  | { readonly channel: grpc.Channel }
);

export interface ServerInfo {
  readonly protocolVersion: number;
  readonly capabilities: readonly string[];
  readonly server: string;
}

export interface TargetInfo {
  readonly path: string;
  readonly onVolume: boolean | undefined;
  readonly owner?: { readonly uid: number; readonly gid: number };
  readonly runtime: string;
  readonly containerName: string;
  readonly namespace: string;
}

export interface ReloadInfo {
  readonly action: string;
  /** Set when the runtime replaced the container: re-sync into it. */
  readonly newContainerId?: string;
  readonly message: string;
  /** Whether files on the container's writable layer survived; unknown when radar does not say. */
  readonly filesKept?: boolean;
}

export interface ExecInfo {
  /** -1 when the command was killed (timeout) or its status is unknown. */
  readonly exitCode: number;
  readonly timedOut: boolean;
  /** radar dropped output past its cap. */
  readonly truncated: boolean;
}

export interface ExecOptions {
  /** Absolute directory in the container; default the target's remote path. */
  readonly workdir?: string;
  /** 0 or absent: radar's default. */
  readonly timeoutMs?: number;
  readonly onOutput?: (stream: 'stdout' | 'stderr', chunk: Buffer) => void;
  readonly signal?: AbortSignal;
}

type Unary<Req, Res> = (req: Req, md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: Res) => void) => grpc.ClientUnaryCall;
type ServerStream<Req, Res> = (req: Req, md: grpc.Metadata, opts?: grpc.CallOptions) => grpc.ClientReadableStream<Res>;

interface RadarStub extends grpc.Client {
  Handshake: Unary<M.HandshakeRequest, M.HandshakeResponse>;
  /** The request may come encoded already (a Buffer from encodeSliced). */
  GetManifest: ServerStream<M.ManifestRequest | Buffer, M.ManifestChunk>;
  GetSignatures: ServerStream<M.SignaturesRequest, M.SignatureReply>;
  GetDigests: Unary<M.DigestsRequest, M.DigestsReply>;
  Apply: (md: grpc.Metadata, opts?: grpc.CallOptions) => grpc.ClientDuplexStream<M.ApplyFrame, M.ApplyAck>;
  Describe: Unary<M.DescribeRequest, M.DescribeResponse>;
  Reload: Unary<M.ReloadRequest, M.ReloadResponse>;
  Exec: ServerStream<M.ExecRequest, M.ExecOutput>;
}

export class RadarClient implements Receiver {
  readonly #stub: RadarStub;
  readonly #proto: RadarProto;
  readonly #ownsChannel: boolean;
  readonly #opts: RadarClientOptions;
  readonly #target: M.Target;
  readonly #where: string;
  /** Link measurements outlive a batch: the connection is the same. */
  readonly #compression = new CompressionPolicy();
  #started: Promise<ServerInfo> | undefined;
  /** Radar's capabilities, once the handshake succeeded. */
  #capabilities: readonly string[] = [];
  #closed: Promise<void> | undefined;
  /** The Apply call kept open between batches (when radar takes several per call). */
  readonly #warm: WarmApply;

  constructor(opts: RadarClientOptions) {
    this.#opts = opts;
    this.#proto = loadRadarProto();
    const { Client } = this.#proto;
    const limits = { 'grpc.max_receive_message_length': MAX_MESSAGE_BYTES, 'grpc.max_send_message_length': MAX_MESSAGE_BYTES };
    if ('channel' in opts) {
      this.#stub = new Client('unused', grpc.credentials.createInsecure(), { ...limits, channelOverride: opts.channel }) as unknown as RadarStub;
      this.#ownsChannel = false;
      this.#where = opts.channel.getTarget();
    } else {
      this.#stub = new Client(opts.address, grpc.credentials.createInsecure(), { ...limits, ...opts.channelOptions }) as unknown as RadarStub;
      this.#ownsChannel = true;
      this.#where = opts.address;
    }
    const t = opts.target;
    this.#target = {
      containerId: t.containerId,
      runtime: t.runtime ?? '',
      remotePath: t.remotePath ?? '',
      ...(t.owner ? { owner: { uid: t.owner.uid, gid: t.owner.gid } } : {}),
      ...(t.keepSetIdBits ? { keepSetIdBits: true } : {}),
    };
    this.#warm = new WarmApply({ open: () => this.#openApply(), target: this.#target });
  }

  /** Handshake once (memoized): the protocol version matches and the token and target are accepted. */
  start(signal?: AbortSignal): Promise<ServerInfo> {
    this.#started ??= this.handshake(signal);
    this.#started.catch(() => (this.#started = undefined)); // a failed handshake may be retried
    return this.#started;
  }

  async handshake(signal?: AbortSignal): Promise<ServerInfo> {
    const res = await this.#unary(this.#stub.Handshake, {
      protocolVersion: PROTOCOL_VERSION,
      capabilities: Object.values(Capability),
      client: this.#opts.clientName ?? 'kx',
      target: this.#target,
    }, signal);
    if (res.protocolVersion !== PROTOCOL_VERSION) {
      throw new KxError(ErrorCode.ProtocolVersion, `radar at ${this.#where} speaks protocol ${res.protocolVersion}, kx speaks ${PROTOCOL_VERSION}`);
    }
    this.#capabilities = res.capabilities;
    return { protocolVersion: res.protocolVersion, capabilities: res.capabilities, server: res.server };
  }

  async describe(signal?: AbortSignal): Promise<TargetInfo> {
    const r = await this.#unary(this.#stub.Describe, { target: this.#target }, signal);
    return {
      path: r.path,
      onVolume: r.onVolume === 'yes' ? true : r.onVolume === 'no' ? false : undefined,
      ...(r.owner ? { owner: { uid: r.owner.uid, gid: r.owner.gid } } : {}),
      runtime: r.runtime,
      containerName: r.containerName,
      namespace: r.namespace,
    };
  }

  /** mode: "restart" | "signal:<NAME>" | "none". */
  async reload(mode: string, signal?: AbortSignal): Promise<ReloadInfo> {
    const r = await this.#unary(this.#stub.Reload, { target: this.#target, mode }, signal).finally(() => {
      // A restarted container is another process: the Apply call kept open is bound to the old one.
      if (mode !== 'none') this.#warm.drop();
    });
    return {
      action: r.action,
      message: r.message,
      ...(r.newContainerId ? { newContainerId: r.newContainerId } : {}),
      ...(typeof r.filesKept === 'boolean' ? { filesKept: r.filesKept } : {}),
    };
  }

  /** Runs argv in the target container through radar; output as it comes, then the exit code. */
  async exec(argv: readonly string[], opts: ExecOptions = {}): Promise<ExecInfo> {
    await this.start(opts.signal);
    if (!this.#capabilities.includes(Capability.Exec)) {
      throw new KxError(ErrorCode.InvalidArgument, `radar at ${this.#where} cannot run commands (an older radar): upgrade it (kx init) to use onSync`);
    }
    const req: M.ExecRequest = { target: this.#target, argv: [...argv], workdir: opts.workdir ?? '', timeoutMs: opts.timeoutMs ?? 0 };
    for await (const m of this.#serverStream(this.#stub.Exec, req, opts.signal)) {
      if (m.stdout.byteLength > 0) opts.onOutput?.('stdout', m.stdout);
      if (m.stderr.byteLength > 0) opts.onOutput?.('stderr', m.stderr);
      if (m.exited) return { exitCode: m.exitCode, timedOut: m.timedOut, truncated: m.truncated };
    }
    throw new KxError(ErrorCode.Protocol, `radar at ${this.#where} ended an Exec call without an exit code`);
  }

  async manifest(rules: readonly IgnoreRuleSet[], signal?: AbortSignal, known?: Manifest): Promise<Manifest> {
    await this.start(signal);
    const out = new Map<RelPath, Entry>();
    const head: M.ManifestRequest = { target: this.#target, rules: rulesToMsg(rules), known: [] };
    // The known entries are encoded directly (known-entries.ts) and follow the head's fields: the request is sent as
    // these bytes (the serializer passes a Buffer through).
    const req = known && known.size > 0 ? Buffer.concat([this.#proto.service.GetManifest.requestSerialize(head), await encodeKnown(known)]) : head;
    signal?.throwIfAborted();
    for await (const chunk of this.#serverStream(this.#stub.GetManifest, req, signal)) {
      for (const e of chunk.entries) out.set(e.path, entryFromMsg(e));
    }
    return out;
  }

  /** Radar announced digest-at-end (known after the handshake, which manifest() performs). */
  acceptsDigestAtEnd(): boolean {
    return this.#capabilities.includes(Capability.DigestAtEnd);
  }

  /** Radar announced expect-contents: it checks a directory's expected contents before removing it. */
  checksDirContents(): boolean {
    return this.#capabilities.includes(Capability.ExpectContents);
  }

  /** Digests of radar's files at these paths; empty when radar does not offer GetDigests. */
  async digests(paths: readonly RelPath[], signal?: AbortSignal): Promise<Manifest> {
    const out = new Map<RelPath, Entry>();
    if (paths.length === 0) return out;
    await this.start(signal);
    if (!this.#capabilities.includes(Capability.Digests)) return out;
    const res = await this.#unary(this.#stub.GetDigests, { target: this.#target, paths: [...paths] }, signal);
    for (const m of res.entries) {
      const e = entryFromMsg(m);
      if (e.kind === 'file' && e.digest !== undefined) out.set(e.path, e);
    }
    return out;
  }

  async *signatures(paths: readonly RelPath[], signal?: AbortSignal): AsyncIterable<{ path: RelPath; signature: Signature | null }> {
    if (paths.length === 0) return;
    await this.start(signal);
    for await (const reply of this.#serverStream(this.#stub.GetSignatures, { target: this.#target, paths: [...paths] }, signal)) {
      yield { path: reply.path, signature: signatureFromMsg(reply) };
    }
  }

  async apply(ops: AsyncIterable<BatchOp>, signal?: AbortSignal): Promise<BatchResult> {
    const info = await this.start(signal);
    // A radar that takes several batches per call gets them on the call kept from the last batch.
    const reuse = info.capabilities.includes(Capability.ApplyReuse);
    const call = (reuse ? this.#warm.take() : undefined) ?? this.#openApply();
    const onAbort = (): void => call.cancel();
    signal?.addEventListener('abort', onAbort, { once: true });
    let ack: M.ApplyAck | undefined;
    try {
      await writeBatch(ops, {
        target: this.#target,
        compress: (this.#opts.compress ?? true) && info.capabilities.includes(Capability.Zlib),
        policy: this.#compression,
        signal,
        opened: call.opened,
        sink: call,
      });
      if (reuse) {
        ack = await call.nextAck();
        if (call.unclaimedAcks > 0) throw new KxError(ErrorCode.Protocol, `radar at ${this.#where} answered a batch with ${call.unclaimedAcks + 1} acks`);
      } else {
        const acks = await call.finish();
        if (acks.length !== 1) throw new KxError(ErrorCode.Protocol, `radar at ${this.#where} answered a batch with ${acks.length} acks`);
        ack = acks[0];
      }
    } catch (err) {
      call.cancel();
      if (signal?.aborted) throw new KxError(ErrorCode.Cancelled, `sync to radar at ${this.#where}: cancelled`, { cause: err });
      throw call.failure ?? fromServiceError(err, `radar at ${this.#where}`);
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
    if (reuse) this.#warm.giveBack(call, ack.errors.length === 0);
    return { applied: ack.applied, bytesSent: ack.bytesReceived, errors: ack.errors.map((e) => ({ path: e.path, code: e.code, message: e.message })) };
  }

  /** Release the channel (unless it was handed in). Idempotent. */
  close(): Promise<void> {
    this.#closed ??= Promise.resolve().then(() => {
      this.#warm.close();
      if (this.#ownsChannel) this.#stub.close();
    });
    return this.#closed;
  }

  #openApply(): ApplyCall {
    return new ApplyCall(this.#stub.Apply(this.#metadata()), this.#where);
  }

  #metadata(): grpc.Metadata {
    const md = new grpc.Metadata();
    md.set(METADATA_PROTOCOL_VERSION, String(PROTOCOL_VERSION));
    if (this.#opts.token) md.set(METADATA_AUTHORIZATION, `Bearer ${this.#opts.token}`);
    return md;
  }

  #unary<Req, Res>(method: Unary<Req, Res>, req: Req, signal?: AbortSignal): Promise<Res> {
    return new Promise<Res>((resolve, reject) => {
      const call = method.call(this.#stub, req, this.#metadata(), {}, (err, res) => {
        signal?.removeEventListener('abort', onAbort);
        if (err) reject(fromServiceError(err, `radar at ${this.#where}`));
        else resolve(res as Res);
      });
      const onAbort = (): void => call.cancel();
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  async *#serverStream<Req, Res>(method: ServerStream<Req, Res>, req: Req, signal?: AbortSignal): AsyncIterable<Res> {
    const call = method.call(this.#stub, req, this.#metadata());
    const onAbort = (): void => call.cancel();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      for await (const m of call) yield m as Res;
    } catch (err) {
      throw fromServiceError(err, `radar at ${this.#where}`);
    } finally {
      signal?.removeEventListener('abort', onAbort);
      call.cancel(); // no-op when the call already ended; stops the server when the consumer broke off early
    }
  }
}
