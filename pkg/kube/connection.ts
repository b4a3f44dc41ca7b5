// One synced container's link: the radar session dialed through its node's tunnel, released with it, and a
// receiver whose failures say why the tunnel cannot come back.
import type { Connection, ExecOutcome, ExecRun } from '../daemon/target.ts';
import { ErrorCode, KxError, isKxError } from '../sync/errors.ts';
import type { BatchOp, BatchResult, IgnoreRuleSet, Manifest, Receiver, RelPath, Signature } from '../sync/types.ts';
import { formatContainerRef } from '../../proto/container-ref.ts';
import type { ContainerRef } from '../../proto/container-ref.ts';
import type { RadarSession } from './radar-dial.ts';
import type { RemoteContainer } from './remote-container.ts';
import type { Tunnel } from './tunnel.ts';

export class KubeConnection implements Connection {
  readonly receiver: Receiver;
  readonly #remote: RemoteContainer;
  readonly #session: RadarSession;
  readonly #release: () => Promise<void>;
  readonly #radarNamespace: string;
  #closed: Promise<void> | undefined;

  constructor(remote: RemoteContainer, session: RadarSession, tunnel: Tunnel, release: () => Promise<void>, radarNamespace: string) {
    this.#remote = remote;
    this.#session = session;
    this.#release = release;
    this.#radarNamespace = radarNamespace;
    this.receiver = new ExplainingReceiver(session.receiver, tunnel);
  }

  reload(mode: Parameters<Connection['reload']>[0]): Promise<void> {
    return this.#session.reload(mode);
  }

  exec(argv: readonly string[], opts: ExecRun): Promise<ExecOutcome> {
    if (!this.#session.exec) return Promise.reject(new KxError(ErrorCode.InvalidArgument, 'onSync: this radar connection cannot run commands'));
    return this.#session.exec(argv, opts);
  }

  describe(): string {
    const r = this.#remote;
    return `pod ${r.namespace}/${r.pod} container ${r.container} (${shortRef(r.containerRef)}) on node ${r.nodeName} via radar in ${this.#radarNamespace}`;
  }

  close(): Promise<void> {
    this.#closed ??= (async () => {
      try {
        await this.#session.close();
      } finally {
        await this.#release();
      }
    })();
    return this.#closed;
  }
}

/** Replaces a bare "unavailable" from gRPC with the tunnel's reason (403 on port-forward, radar pod gone). */
class ExplainingReceiver implements Receiver {
  readonly #inner: Receiver;
  readonly #tunnel: Tunnel;

  constructor(inner: Receiver, tunnel: Tunnel) {
    this.#inner = inner;
    this.#tunnel = tunnel;
  }

  async manifest(rules: readonly IgnoreRuleSet[], signal?: AbortSignal, known?: Manifest): Promise<Manifest> {
    try {
      return await this.#inner.manifest(rules, signal, known);
    } catch (err) {
      throw explain(err, this.#tunnel);
    }
  }

  acceptsDigestAtEnd(): boolean {
    return this.#inner.acceptsDigestAtEnd?.() ?? false;
  }

  checksDirContents(): boolean {
    return this.#inner.checksDirContents?.() ?? false;
  }

  async digests(paths: readonly RelPath[], signal?: AbortSignal): Promise<Manifest> {
    if (!this.#inner.digests) return new Map();
    try {
      return await this.#inner.digests(paths, signal);
    } catch (err) {
      throw explain(err, this.#tunnel);
    }
  }

  async *signatures(paths: readonly RelPath[], signal?: AbortSignal): AsyncIterable<{ path: RelPath; signature: Signature | null }> {
    try {
      yield* this.#inner.signatures(paths, signal);
    } catch (err) {
      throw explain(err, this.#tunnel);
    }
  }

  async apply(ops: AsyncIterable<BatchOp>, signal?: AbortSignal): Promise<BatchResult> {
    try {
      return await this.#inner.apply(ops, signal);
    } catch (err) {
      throw explain(err, this.#tunnel);
    }
  }
}

/**
 * A call that failed because the link is down says why the tunnel cannot come back (radar pod gone, RBAC, …),
 * but stays UNAVAILABLE: the link was up before, so the caller keeps reconnecting rather than giving up.
 */
export function explain(err: unknown, tunnel: Tunnel): unknown {
  const reason = tunnel.lastError;
  if (reason && isKxError(err, ErrorCode.Unavailable)) {
    return new KxError(ErrorCode.Unavailable, reason.message, { cause: reason });
  }
  return err;
}

function shortRef(ref: ContainerRef): string {
  const full = formatContainerRef(ref);
  return full.length > ref.runtime.length + 3 + 12 ? `${full.slice(0, ref.runtime.length + 3 + 12)}…` : full;
}
