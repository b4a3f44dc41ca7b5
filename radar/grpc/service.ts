// Handlers of kx.v1.Radar. Every call: token checked before its message is read (gate.ts), protocol version
// checked, target resolved and authorized (nothing is read or written before the resolver accepted the caller),
// KxErrors turned into gRPC status at this edge. A call holds its resolved target (the container's pinned root)
// until it ends; an Apply stream proves before each batch that the container is still the same process and the
// token still grants it. Resolutions are kept between one caller's calls to one target and proven the same way
// before each reuse (root-cache.ts): a save then costs no round trip to the container runtime.
import * as grpc from '@grpc/grpc-js';
import { once } from 'node:events';
import type { Hasher } from '../../pkg/sync/hash.ts';
import type { BatchResult, Manifest } from '../../pkg/sync/types.ts';
import { ErrorCode, KxError } from '../../pkg/sync/errors.ts';
import { entryToMsg, knownFromMsgs, pathErrorToMsg, rulesFromMsg, signatureToMsg } from '../../pkg/wire/convert.ts';
import type * as M from '../../proto/messages.ts';
import { toServiceError } from '../../pkg/wire/status.ts';
import { Capability, METADATA_PROTOCOL_VERSION, PROTOCOL_VERSION } from '../../proto/version.ts';
import { LocalTree } from '../../pkg/receiver/local-tree.ts';
import { SignatureCache } from '../../pkg/sync/signature-cache.ts';
import type { PlacePool } from '../../pkg/receiver/place-pool.ts';
import { ApplyFrameReader } from './apply-stream.ts';
import { bearer, callerKey } from './gate.ts';
import { LIMITS, Slots } from './limits.ts';
import type { RootCache } from './root-cache.ts';
import { Urgency, type Lane } from './urgency.ts';
import type { Reloader, ResolvedRoot, TargetRef } from '../../pkg/runtime/ports.ts';
import type { Executor } from '../../pkg/runtime/exec.ts';
import { runExec } from './exec-call.ts';

export interface RadarServiceDeps {
  /** Resolves each call's target (kept between calls; see root-cache.ts). */
  readonly roots: RootCache;
  /** Places small files in groups on a thread (the server owns and closes it). */
  readonly placePool: PlacePool;
  readonly reloader?: Reloader;
  /** Runs commands in containers (Exec); absent when radar serves a directory. */
  readonly executor?: Executor;
  readonly hasher: Hasher;
  readonly name: string;
  readonly fsync: boolean;
}

/** What every kind of server call has. */
interface SurfaceCall {
  readonly metadata: grpc.Metadata;
  on(event: 'cancelled', listener: () => void): unknown;
  removeListener(event: 'cancelled', listener: () => void): unknown;
}

/** Entries per ManifestChunk: big enough to amortize framing, small enough to stream. */
const MANIFEST_CHUNK = 512;
/** Roots whose stale temp files were removed, remembered per server. */
const CLEANED_ROOTS = 1024;

export function createRadarService(deps: RadarServiceDeps): grpc.UntypedServiceImplementation {
  // Roots whose stale temp files were removed, per server instance (each root once).
  const cleaned = new Map<string, Promise<void>>();
  // Signatures of the large files radar wrote or signed, so the next delta of one needs no read of it first.
  const signatures = new SignatureCache();

  // Saves before bulk work: batches of Apply calls take turns by urgency.ts.
  const urgency = new Urgency();
  // The batches applied at once, per caller and in all: a stream kept open between batches holds no slot.
  const batches = new Slots({ ...LIMITS.applyBatches, queue: LIMITS.slotQueue });

  const treeFor = async (root: ResolvedRoot, target: TargetRef, signal: AbortSignal, lane?: () => Lane | undefined): Promise<LocalTree> => {
    const tree = new LocalTree({
      // A batch's slice breaks wait for urgent batches; an urgent batch (a save) places its files at once.
      ...(lane && { pace: () => lane()?.pace(), placeNow: () => lane()?.urgent === true, sliceMs: () => urgency.sliceMs() }),
      root: root.path,
      anchor: root.anchor,
      hasher: deps.hasher,
      owner: root.owner,
      fsync: deps.fsync,
      keepSetIdBits: target.keepSetIdBits === true,
      placePool: deps.placePool,
      // Files of a small batch are placed on this thread rather than by starting the pool's; not while another Apply
      // stream is open: bulk work then stays on the pool's thread, of lower priority than this one, which serves the other.
      placeInline: () => urgency.alone(),
      signatures,
      // Before each batch: the container is still the process it was resolved to, and the token still grants it.
      ...(root.verify ? { verify: (sig?: AbortSignal) => root.verify!(sig) } : {}),
    });
    const key = root.key ?? root.path;
    let started = cleaned.get(key);
    if (!started) {
      started = tree.start(signal);
      // Bounded: forgetting a root only means its stale temp files are looked for once more.
      if (cleaned.size >= CLEANED_ROOTS) cleaned.delete(cleaned.keys().next().value!);
      cleaned.set(key, started);
      started.catch(() => cleaned.delete(key));
    }
    await started;
    return tree;
  };

  /**
   * Resolve the call's target, run `fn` with it, release it (its pinned root) however `fn` ends. A call that failed,
   * or whose batch had paths refused (`taint`), leaves the next call a fresh resolution.
   */
  const withRoot = async <T>(
    call: SurfaceCall,
    target: M.Target | null,
    signal: AbortSignal,
    fn: (root: ResolvedRoot, ref: TargetRef, taint: () => void) => Promise<T>,
  ): Promise<T> => {
    checkVersionHeader(call.metadata);
    const ref = targetRef(target);
    const lease = await deps.roots.acquire(ref, bearer(call.metadata), signal);
    try {
      return await fn(lease.root, ref, () => lease.taint());
    } catch (err) {
      lease.taint();
      throw err;
    } finally {
      lease.release();
    }
  };

  const capabilities = [Capability.Zlib, Capability.Delta, Capability.Describe, Capability.DigestAtEnd, Capability.Digests, Capability.Expect, Capability.ApplyReuse, Capability.ExpectContents, ...(deps.reloader ? [Capability.Reload] : []), ...(deps.executor ? [Capability.Exec] : [])];

  return {
    Handshake: unary<M.HandshakeRequest, M.HandshakeResponse>(async (call, signal) => {
      const req = call.request;
      if (req.protocolVersion !== PROTOCOL_VERSION) throw versionMismatch(req.protocolVersion);
      await withRoot(call, req.target, signal, async () => undefined);
      return { protocolVersion: PROTOCOL_VERSION, capabilities, server: deps.name };
    }),

    GetManifest: serverStream<M.ManifestRequest, M.ManifestChunk>((call, signal, write) => withRoot(call, call.request.target, signal, async (root, ref) => {
      const tree = await treeFor(root, ref, signal);
      const known = call.request.known ?? [];
      const sender = known.length > 0 ? knownFromMsgs(known) : undefined;
      const manifest = await tree.manifest(rulesFromMsg(call.request.rules), signal, sender);
      // The sender's files are known: those radar lacks, or holds at another size or mtime, are what its sync will
      // send. Many of them: the placement thread starts now, not after the first of them.
      if (sender !== undefined) deps.placePool.expectFiles(filesToCome(sender, manifest));
      let chunk: M.EntryMsg[] = [];
      for (const e of manifest.values()) {
        chunk.push(entryToMsg(e));
        if (chunk.length === MANIFEST_CHUNK) {
          await write({ entries: chunk });
          chunk = [];
        }
      }
      if (chunk.length > 0) await write({ entries: chunk });
    })),

    GetDigests: unary<M.DigestsRequest, M.DigestsReply>((call, signal) => withRoot(call, call.request.target, signal, async (root, ref) => {
      const tree = await treeFor(root, ref, signal);
      const found = await tree.digests(call.request.paths, signal);
      return { entries: [...found.values()].map(entryToMsg) };
    })),

    GetSignatures: serverStream<M.SignaturesRequest, M.SignatureReply>((call, signal, write) => withRoot(call, call.request.target, signal, async (root, ref) => {
      const tree = await treeFor(root, ref, signal);
      for await (const { path, signature } of tree.signatures(call.request.paths, signal)) {
        await write(signatureToMsg(path, signature));
      }
    })),

    Apply: (call: grpc.ServerDuplexStream<M.ApplyFrame, M.ApplyAck>) => {
      const { signal, dispose } = callSignal(call);
      const idle = (): void => {
        if (signal.aborted) return;
        call.emit('error', toServiceError(new KxError(ErrorCode.Unavailable, `Apply stream idle for ${LIMITS.streamIdleMs / 1000} s: radar ended it`)));
      };
      const closeStream = urgency.openStream();
      const run = async (): Promise<void> => {
        const reader = new ApplyFrameReader(idleLimited(call[Symbol.asyncIterator]() as AsyncIterator<M.ApplyFrame>, LIMITS.streamIdleMs, idle));
        const target = await reader.open();
        await withRoot(call, target, signal, async (root, ref, taint) => {
          let lane: Lane | undefined;
          const tree = await treeFor(root, ref, signal, () => lane);
          const caller = callerKey(bearer(call.metadata));
          while (!(await reader.atEnd())) {
            const release = await batches.acquire(caller, 'Apply', signal);
            lane = urgency.begin();
            let result: BatchResult;
            try {
              result = await tree.apply(reader.batch(), signal);
            } finally {
              lane.end();
              release();
            }
            if (result.errors.length > 0) taint();
            const ack: M.ApplyAck = { applied: result.applied, bytesReceived: reader.takeWireBytes(), errors: result.errors.map(pathErrorToMsg) };
            if (!call.write(ack)) await once(call, 'drain', { signal });
          }
        });
      };
      run().then(
        () => call.end(),
        (err: unknown) => {
          if (!signal.aborted) call.emit('error', toServiceError(err));
        },
      ).finally(() => {
        closeStream();
        dispose();
      });
    },

    Describe: unary<M.DescribeRequest, M.DescribeResponse>((call, signal) => withRoot(call, call.request.target, signal, async (root) => {
      return {
        // What the container sees, never the host's /proc/<pid>/… (a PID is no business of the client's).
        path: root.containerPath ?? root.path,
        onVolume: root.onVolume === undefined ? 'unknown' : root.onVolume ? 'yes' : 'no',
        ...(root.owner ? { owner: { uid: root.owner.uid, gid: root.owner.gid } } : {}),
        runtime: root.runtime ?? '',
        containerName: root.containerName ?? '',
        namespace: root.namespace ?? '',
      };
    })),

    Reload: unary<M.ReloadRequest, M.ReloadResponse>(async (call, signal) => {
      const target = targetRef(call.request.target);
      await withRoot(call, call.request.target, signal, async () => undefined);
      const mode = call.request.mode;
      if (mode === 'none' || mode === '') return { action: 'none', newContainerId: '', message: '', filesKept: true };
      if (!deps.reloader) throw new KxError(ErrorCode.InvalidConfig, `reload ${mode}: this radar cannot reload (it serves a directory, not a container)`);
      const r = await deps.reloader.reload(target, mode, signal);
      return { action: r.action, newContainerId: r.newContainerId ?? '', message: r.message ?? '', ...(r.filesKept === undefined ? {} : { filesKept: r.filesKept }) };
    }),

    Exec: serverStream<M.ExecRequest, M.ExecOutput>((call, signal, write) => withRoot(call, call.request.target, signal, async (root, ref) => {
      if (!deps.executor) throw new KxError(ErrorCode.InvalidArgument, 'exec: this radar serves a directory, not a container: it cannot run commands');
      await runExec(deps.executor, call.request, { ref, workdir: root.containerPath ?? ref.remotePath }, signal, write);
    })),
  };
}

/** Files of the sender's manifest that the receiver's lacks or holds at another size or mtime. */
export function filesToCome(sender: Manifest, receiver: Manifest): number {
  let n = 0;
  for (const e of sender.values()) {
    if (e.kind !== 'file') continue;
    const r = receiver.get(e.path);
    if (r === undefined || r.kind !== 'file' || r.size !== e.size || r.mtimeMs !== e.mtimeMs) n++;
  }
  return n;
}

export function targetRef(t: M.Target | null): TargetRef {
  return {
    containerId: t?.containerId ?? '',
    runtime: t?.runtime ?? '',
    remotePath: t?.remotePath ?? '',
    ...(t?.owner ? { owner: { uid: t.owner.uid, gid: t.owner.gid } } : {}),
    ...(t?.keepSetIdBits ? { keepSetIdBits: true } : {}),
  };
}

/** `it`, with `onIdle` run when one next() waits longer than `ms` for the client (not while radar works). */
function idleLimited<T>(it: AsyncIterator<T>, ms: number, onIdle: () => void): AsyncIterator<T> {
  return {
    next: () => {
      const timer = setTimeout(onIdle, ms);
      return it.next().finally(() => clearTimeout(timer));
    },
  };
}

function checkVersionHeader(metadata: grpc.Metadata): void {
  const v = metadata.get(METADATA_PROTOCOL_VERSION)[0];
  if (v === undefined) return; // Handshake carries it in the message; other callers send it as metadata
  const n = Number(v);
  if (n !== PROTOCOL_VERSION) throw versionMismatch(Number.isFinite(n) ? n : String(v));
}

function versionMismatch(client: number | string): KxError {
  return new KxError(
    ErrorCode.ProtocolVersion,
    `protocol version mismatch: kx speaks ${client}, radar speaks ${PROTOCOL_VERSION}; install matching versions (kx init upgrades radar)`,
  );
}

function callSignal(call: SurfaceCall): { signal: AbortSignal; dispose: () => void } {
  const ac = new AbortController();
  const onCancel = (): void => {
    const reason = new KxError(ErrorCode.Cancelled, 'call cancelled by the client');
    ac.abort(reason);
    // Unblocks a handler waiting for the next message of a stream the client cut.
    if ('destroy' in call && typeof call.destroy === 'function') (call as unknown as { destroy(e: Error): void }).destroy(reason);
  };
  call.on('cancelled', onCancel);
  return { signal: ac.signal, dispose: () => call.removeListener('cancelled', onCancel) };
}

function unary<Req, Res>(fn: (call: grpc.ServerUnaryCall<Req, Res>, signal: AbortSignal) => Promise<Res>): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    const { signal, dispose } = callSignal(call);
    fn(call, signal)
      .then((res) => callback(null, res), (err: unknown) => callback(toServiceError(err)))
      .finally(dispose);
  };
}

function serverStream<Req, Res>(
  fn: (call: grpc.ServerWritableStream<Req, Res>, signal: AbortSignal, write: (m: Res) => Promise<void>) => Promise<void>,
): grpc.handleServerStreamingCall<Req, Res> {
  return (call) => {
    const { signal, dispose } = callSignal(call);
    const write = async (m: Res): Promise<void> => {
      if (!call.write(m)) await once(call, 'drain', { signal });
    };
    fn(call, signal, write).then(
      () => call.end(),
      (err: unknown) => {
        if (!signal.aborted) call.emit('error', toServiceError(err));
      },
    ).finally(dispose);
  };
}
