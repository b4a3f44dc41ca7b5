// A spec's port forwards for the life of `kx watch`: one loopback listener per `ports` entry, each accepted
// connection joined (through the target kind's PortDialer) to the spec's first ready target. When that target goes
// away its connections close and new ones go to the next ready target (the pod that replaced it). A connection made
// while no target is ready (a pod restarting after a save) is held until one is, up to holdMs, rather than refused:
// the browser refresh that races a reload waits for it. A local port that is taken is one status line and a warning,
// retried with back-off; the spec keeps syncing either way.
import { createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import { forwardLabel, listenKey, type PortForwardSpec } from '../config/port-forwards.ts';
import type { SpecConfig } from '../config/types.ts';
import { Backoff, type BackoffPolicy } from '../lifecycle/backoff.ts';
import { closeInOrder, closeTogether } from '../lifecycle/close.ts';
import type { Logger } from './logger.ts';
import type { PortForwardStatus } from './status.ts';
import type { PortDialer, Target } from './target.ts';

export interface PortForwardsDeps {
  readonly spec: SpecConfig;
  readonly forwards: readonly PortForwardSpec[];
  readonly dialer: PortDialer;
  readonly log: Logger;
  readonly onChange: () => void;
  /** Retrying a local port that is in use. Default 1 s … 30 s. */
  readonly bindBackoff?: BackoffPolicy;
  /** How long a connection waits for a ready target before it is closed. Default 30 s. */
  readonly holdMs?: number;
}

export const HOLD_MS = 30_000;

export class PortForwards {
  readonly #deps: PortForwardsDeps;
  /** Targets in the order they came; the first ready one gets new connections. */
  readonly #targets = new Map<string, { target: Target; ready: boolean }>();
  readonly #listeners: PortListener[];
  #current: Target | undefined;
  #started: Promise<void> | undefined;
  #closed: Promise<void> | undefined;

  constructor(deps: PortForwardsDeps) {
    this.#deps = deps;
    this.#listeners = deps.forwards.map((f) => new PortListener(f, this, deps));
  }

  /** Binds every listener once; a port in use is reported and retried in the background. */
  start(): Promise<void> {
    this.#started ??= Promise.all(this.#listeners.map((l) => l.start())).then(() => undefined);
    return this.#started;
  }

  added(target: Target): void {
    if (this.#closed) return;
    this.#targets.set(target.id, { target, ready: true });
    this.#choose();
  }

  removed(id: string): void {
    if (!this.#targets.delete(id)) return;
    // Connections to a container that is gone cannot go on: close them, as kubectl's forward does when its pod goes.
    for (const l of this.#listeners) l.dropTarget(id);
    this.#choose();
  }

  ready(id: string, ready: boolean): void {
    const entry = this.#targets.get(id);
    if (!entry || entry.ready === ready) return;
    entry.ready = ready;
    this.#choose();
  }

  /** Where new connections go now. */
  get current(): Target | undefined {
    return this.#current;
  }

  status(): PortForwardStatus[] {
    return this.#listeners.map((l) => l.status(this.#current));
  }

  close(): Promise<void> {
    // Listeners are independent of each other: close them together; each closes its connections, then itself.
    this.#closed ??= closeTogether([...this.#listeners].reverse());
    return this.#closed;
  }

  #choose(): void {
    const current = this.#current !== undefined ? this.#targets.get(this.#current.id) : undefined;
    // Stay with a target while it is ready; otherwise the oldest ready one (a replacement comes after the rest).
    const next = current?.ready ? current.target : [...this.#targets.values()].find((e) => e.ready)?.target;
    if (next?.id === this.#current?.id) return;
    this.#current = next;
    const { spec, log } = this.#deps;
    if (this.#listeners.length > 0) {
      if (next) log.info(`${spec.name}: ports ${this.#deps.forwards.map(forwardLabel).join(', ')} forward to ${next.name}`);
      else log.info(`${spec.name}: ports wait for a ready container`);
    }
    for (const l of this.#listeners) l.targetChanged();
    this.#deps.onChange();
  }
}

/** One `ports` entry: its listener, its connections (by target), and why it does not work when it does not. */
class PortListener {
  readonly #forward: PortForwardSpec;
  readonly #owner: PortForwards;
  readonly #deps: PortForwardsDeps;
  readonly #backoff: Backoff;
  readonly #abort = new AbortController();
  readonly #sockets = new Map<Socket, string>();
  readonly #opening = new Set<Promise<void>>();
  /** Connections waiting for a ready target, with the timer that gives up on each. */
  readonly #held = new Map<Socket, NodeJS.Timeout>();
  #server: Server | undefined;
  /** Why the port could not be bound, while it cannot. */
  #bindError: { code: string | undefined; message: string } | undefined;
  /** Why the last connection could not reach the container; cleared by a success or another target. */
  #linkError: string | undefined;
  #retrying: Promise<void> | undefined;
  #closed: Promise<void> | undefined;

  constructor(forward: PortForwardSpec, owner: PortForwards, deps: PortForwardsDeps) {
    this.#forward = forward;
    this.#owner = owner;
    this.#deps = deps;
    this.#backoff = new Backoff(deps.bindBackoff ?? { baseMs: 1000, maxMs: 30_000 });
  }

  /** Resolves after the first attempt to listen, whatever its outcome. */
  async start(): Promise<void> {
    if (await this.#bind()) return;
    this.#retrying = this.#retry();
  }

  status(current: Target | undefined): PortForwardStatus {
    const f = this.#forward;
    const base = { address: f.address, local: f.local, remote: f.remote, connections: this.#sockets.size + this.#held.size, ...(current && { target: current.name }) };
    if (this.#bindError) return { ...base, state: 'in-use', message: this.#bindError.message };
    if (!current) {
      const held = this.#held.size > 0 ? ` (${this.#held.size} connection${this.#held.size === 1 ? '' : 's'} held)` : '';
      return { ...base, state: 'waiting', message: `no ready container to forward to yet${held}` };
    }
    if (this.#linkError) return { ...base, state: 'error', message: this.#linkError };
    return { ...base, state: 'ok' };
  }

  /** A new target (or none): held connections go to it. */
  targetChanged(): void {
    this.#linkError = undefined;
    const target = this.#owner.current;
    if (!target || this.#closed) return;
    for (const [socket, timer] of this.#held) {
      clearTimeout(timer);
      this.#held.delete(socket);
      if (!socket.destroyed) this.#connect(socket, target);
    }
  }

  dropTarget(id: string): void {
    for (const [socket, target] of this.#sockets) if (target === id) socket.destroy();
  }

  close(): Promise<void> {
    this.#closed ??= (async () => {
      this.#abort.abort();
      const server = this.#server;
      await closeInOrder([
        () => this.#retrying,
        // Connections before the listener: server.close() waits for every connection to end.
        () => Promise.all([...this.#held.keys(), ...this.#sockets.keys()].map(destroyed)),
        () => Promise.all(this.#opening),
        server && (() => new Promise<void>((resolve) => server.close(() => resolve()))),
      ]);
    })();
    return this.#closed;
  }

  async #retry(): Promise<void> {
    while (await this.#backoff.wait(this.#abort.signal)) {
      if (await this.#bind()) return;
    }
  }

  /** One attempt to listen; true when listening (or closed, so nothing more to try). */
  #bind(): Promise<boolean> {
    if (this.#closed) return Promise.resolve(true);
    const { address, local } = this.#forward;
    const server = createServer({ noDelay: true }, (socket) => this.#accept(socket));
    return new Promise<boolean>((resolve) => {
      const failed = (err: NodeJS.ErrnoException): void => {
        server.close();
        const first = this.#bindError === undefined || this.#bindError.code !== err.code;
        this.#bindError = { code: err.code, message: bindMessage(this.#forward, err) };
        if (first) {
          this.#deps.log.warn(`${this.#deps.spec.name}: port forward ${this.#forward.text}: ${this.#bindError.message}`);
          this.#deps.onChange();
        }
        resolve(false);
      };
      server.once('error', failed);
      server.listen(local, address, () => {
        server.off('error', failed);
        server.on('error', (err) => this.#deps.log.warn(`${this.#deps.spec.name}: port forward ${this.#forward.text}: ${err.message}`));
        if (this.#closed) {
          server.close();
          return resolve(true);
        }
        this.#server = server;
        const was = this.#bindError;
        this.#bindError = undefined;
        if (was) this.#deps.log.info(`${this.#deps.spec.name}: port forward ${this.#forward.text}: ${listenKey(this.#forward)} is free now; listening`);
        this.#deps.onChange();
        resolve(true);
      });
    });
  }

  #accept(socket: Socket): void {
    socket.on('error', () => undefined); // resets from either end: 'close' cleans up
    const target = this.#owner.current;
    if (this.#closed) {
      socket.destroy();
      return;
    }
    if (target) this.#connect(socket, target);
    else this.#hold(socket);
  }

  /** No ready target: the connection waits (what it sends stays buffered) until one is, or holdMs passes. */
  #hold(socket: Socket): void {
    const timer = setTimeout(() => {
      this.#held.delete(socket);
      socket.destroy();
      this.#deps.onChange();
    }, this.#deps.holdMs ?? HOLD_MS);
    this.#held.set(socket, timer);
    socket.once('close', () => {
      clearTimeout(timer);
      if (this.#held.delete(socket)) this.#deps.onChange();
    });
    this.#deps.onChange();
  }

  #connect(socket: Socket, target: Target): void {
    this.#sockets.set(socket, target.id);
    socket.once('close', () => {
      this.#sockets.delete(socket);
      this.#deps.onChange();
    });
    const opening = this.#open(socket, target);
    this.#opening.add(opening);
    void opening.finally(() => this.#opening.delete(opening));
    this.#deps.onChange();
  }

  async #open(socket: Socket, target: Target): Promise<void> {
    const { spec, dialer } = this.#deps;
    try {
      const link = await dialer.forward(spec, target, this.#forward.remote, socket);
      if (this.#linkError !== undefined) {
        this.#linkError = undefined;
        this.#deps.onChange();
      }
      const reason = await link.closed;
      if (reason !== null && !this.#closed && this.#owner.current?.id === target.id) this.#failed(target, reason);
    } catch (err) {
      socket.destroy();
      if (!this.#closed && this.#owner.current?.id === target.id) this.#failed(target, (err as Error).message);
    }
  }

  #failed(target: Target, reason: string): void {
    const message = `${target.name} port ${this.#forward.remote}: ${reason}`;
    if (message !== this.#linkError) this.#deps.log.warn(`${this.#deps.spec.name}: port forward ${this.#forward.text}: ${message}`);
    this.#linkError = message;
    this.#deps.onChange();
  }
}

function bindMessage(f: PortForwardSpec, err: NodeJS.ErrnoException): string {
  const where = listenKey(f);
  switch (err.code) {
    case 'EADDRINUSE':
      return `${where} is in use by another program; retrying`;
    case 'EACCES':
      return `${where}: permission denied (ports below 1024 need privileges); retrying`;
    case 'EADDRNOTAVAIL':
      return `${where}: no such local address; retrying`;
    default:
      return `${where}: ${err.message}; retrying`;
  }
}

function destroyed(socket: Socket): Promise<void> {
  return new Promise<void>((resolve) => {
    if (socket.closed) return resolve();
    socket.once('close', () => resolve());
    socket.destroy();
  });
}
