// radar's gRPC server: the kx.v1.Radar service over LocalTree, with what a target means (RootResolver) and how
// a container is reloaded (Reloader) injected, so one server serves a plain directory and any
// container on the node (docker/containerd resolvers) alike.
import * as grpc from '@grpc/grpc-js';
import type { EventEmitter } from 'node:events';
import type { Http2Session } from 'node:http2';
import type { Socket } from 'node:net';
import type { Hasher } from '../../pkg/sync/hash.ts';
import { ErrorCode, KxError } from '../../pkg/sync/errors.ts';
import { loadRadarProto } from '../../proto/load.ts';
import { MAX_MESSAGE_BYTES, MAX_REQUEST_BYTES } from '../../proto/version.ts';
import type { Reloader, RootResolver } from '../../pkg/runtime/ports.ts';
import type { Executor } from '../../pkg/runtime/exec.ts';
import { CallGate } from './gate.ts';
import { limitRequests } from './limits.ts';
import { RootCache } from './root-cache.ts';
import { PlacePool } from '../../pkg/receiver/place-pool.ts';
import { createRadarService } from './service.ts';
import { exposedGc, IdleCollector } from './idle-gc.ts';

export interface RadarServerOptions {
  /** host:port; port 0 picks a free one (see start()). */
  readonly listen: string;
  readonly resolver: RootResolver;
  readonly reloader?: Reloader;
  /** Runs commands in containers (Exec); absent: Exec is refused. */
  readonly executor?: Executor;
  readonly hasher: Hasher;
  /** Server name reported in Handshake. */
  readonly name?: string;
  /** fsync files before renaming them into place. */
  readonly fsync?: boolean;
  /** How long close() lets calls in flight finish before cutting them. Default 5 s. */
  readonly closeGraceMs?: number;
  /** For tests: how soon a connection without an authenticated call is closed (CallGate's default otherwise). */
  readonly authenticateWithinMs?: number;
  /**
   * A full garbage collection, run once radar is quiet after work (IdleCollector). Default: V8's own when radar runs
   * with --expose-gc (RADAR_COMMAND), else none; null: none.
   */
  readonly collect?: (() => void) | null;
}

export class RadarServer {
  readonly #opts: RadarServerOptions;
  readonly #server: grpc.Server;
  readonly #gate: CallGate;
  readonly #roots: RootCache;
  /** Small files of every tree placed in groups on one thread, which retires when idle. */
  readonly #placePool = new PlacePool();
  readonly #idle: IdleCollector | undefined;
  #started: Promise<{ address: string; port: number }> | undefined;
  #closed: Promise<void> | undefined;

  constructor(opts: RadarServerOptions) {
    this.#opts = opts;
    this.#gate = new CallGate({
      authenticate: (token, signal) => opts.resolver.authenticate(token, signal),
      ...(opts.authenticateWithinMs === undefined ? {} : { authenticateWithinMs: opts.authenticateWithinMs }),
    });
    this.#server = new grpc.Server({
      'grpc.max_receive_message_length': MAX_REQUEST_BYTES,
      'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
      // Bounds what one connection can make radar buffer: streams at once × the stream window (STREAM_WINDOW_BYTES).
      'grpc.max_concurrent_streams': MAX_CONCURRENT_STREAMS,
      // A peer that stops answering pings is dropped; a connection without calls is closed after a while.
      'grpc.keepalive_time_ms': 60_000,
      'grpc.keepalive_timeout_ms': 20_000,
      'grpc.max_connection_idle_ms': 10 * 60_000,
      interceptors: [this.#gate.interceptor],
    });
    const collect = opts.collect === undefined ? exposedGc() : opts.collect ?? undefined;
    this.#idle = collect ? new IdleCollector({ collect }) : undefined;
    const proto = loadRadarProto();
    this.#roots = new RootCache(opts.resolver);
    this.#server.addService(limitRequests(proto.service), createRadarService({
      roots: this.#roots,
      placePool: this.#placePool,
      reloader: opts.reloader,
      ...(opts.executor ? { executor: opts.executor } : {}),
      hasher: opts.hasher,
      name: opts.name ?? 'radar',
      fsync: opts.fsync ?? false,
    }));
  }

  /** Bind and serve. Resolves with the bound address (the real port when listen asked for port 0). */
  start(): Promise<{ address: string; port: number }> {
    this.#started ??= new Promise((resolve, reject) => {
      this.#server.bindAsync(this.#opts.listen, grpc.ServerCredentials.createInsecure(), (err, port) => {
        if (err) {
          reject(new KxError(ErrorCode.Unavailable, `radar cannot listen on ${this.#opts.listen}: ${err.message}`, { cause: err }));
          return;
        }
        for (const h2 of http2Servers(this.#server)) {
          this.#gate.watch(h2);
          widenFlowControl(h2);
          sendAtOnce(h2);
        }
        const host = this.#opts.listen.slice(0, this.#opts.listen.lastIndexOf(':'));
        this.#idle?.start();
        resolve({ address: `${host}:${port}`, port });
      });
    });
    return this.#started;
  }

  /** Stop accepting calls, let those in flight finish within the grace period, then cut them. Idempotent. */
  close(): Promise<void> {
    this.#idle?.close();
    this.#closed ??= new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.#server.forceShutdown();
        resolve();
      }, this.#opts.closeGraceMs ?? 5000);
      this.#server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    })
      .finally(() => this.#placePool.close())
      .finally(() => this.#roots.close());
    return this.#closed;
  }
}

/** HTTP/2 receive windows radar grants its peer: per connection, and per stream (an Apply call). */
export const CONNECTION_WINDOW_BYTES = 32 * 1024 * 1024;
export const STREAM_WINDOW_BYTES = 2 * 1024 * 1024;
/** Calls one connection may have open at once (kx uses a handful). */
export const MAX_CONCURRENT_STREAMS = 32;

/**
 * grpc-js keeps its http2 servers private: if their shape ever changes, radar serves without the connection
 * watch and the widened windows (calls are still authenticated before they are read).
 */
function http2Servers(server: grpc.Server): EventEmitter[] {
  const servers = (server as unknown as { http2Servers?: Map<EventEmitter, unknown> }).http2Servers;
  return servers instanceof Map ? [...servers.keys()] : [];
}

/**
 * No Nagle on radar's connections: an ack (or a manifest chunk) written while an earlier small segment is not yet
 * acknowledged would otherwise wait for that ACK, which the peer may delay. grpc-js does this for its client
 * sockets only.
 */
function sendAtOnce(h2: EventEmitter): void {
  h2.on('connection', (socket: Socket) => {
    if (typeof socket.setNoDelay === 'function') socket.setNoDelay(true);
  });
}

/**
 * Let the client keep an Apply stream full while radar writes files. With HTTP/2's default 64 KiB windows (grpc-js
 * has no server option for them) a 256 KiB frame takes several WINDOW_UPDATE round trips between the two event
 * loops, so sender and receiver take turns instead of overlapping. The bytes a peer can make radar buffer stay
 * bounded by these windows: a call not yet authenticated is not read, so its stream window is never handed back.
 */
function widenFlowControl(h2: EventEmitter): void {
  // Called once, after the one bindAsync of start(): each http2 server gets one listener.
  h2.on('session', (session: Http2Session) => {
    if (session.destroyed) return;
    try {
      session.setLocalWindowSize(CONNECTION_WINDOW_BYTES);
      session.settings({ initialWindowSize: STREAM_WINDOW_BYTES });
    } catch {
      // a session closing as it opens: nothing to widen
    }
  });
}
