// Follows the local Docker engine's running containers that a spec selects (by label selector, or by container
// name or ID), as they start and stop: a list, then the engine's event stream. Subscribes before listing so a
// container starting in between is not missed; reports each container once (added) until it stops (removed).
// A container with a HEALTHCHECK is ready (for port forwards, as a pod's Ready condition is) only while healthy.

import type Docker from 'dockerode';
import type { Readable } from 'node:stream';
import { matchesSelector, parseSelector, type LabelSelector } from '../config/selector.ts';
import type { SpecConfig } from '../config/types.ts';
import type { TargetEvents, TargetSource } from '../daemon/target.ts';
import { Backoff } from '../lifecycle/backoff.ts';

/** The engine calls the follower makes (dockerode's Docker satisfies it). */
export type DockerEngine = Pick<Docker, 'listContainers' | 'getEvents' | 'getContainer'>;

export interface DockerFollowerOptions {
  readonly retryMs?: number;
}

export class DockerContainerFollower implements TargetSource {
  private readonly docker: DockerEngine;
  private readonly spec: SpecConfig;
  private readonly events: TargetEvents;
  private readonly selector: LabelSelector | null;
  private readonly retries: Backoff;
  private readonly known = new Map<string, string>();
  /** Containers that stopped while a listing was under way: the listing may predate their stop. */
  private readonly stoppedDuringList = new Set<string>();
  private listing = false;
  private stream: Readable | null = null;
  private retryTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private started: Promise<void> | null = null;

  constructor(docker: DockerEngine, spec: SpecConfig, events: TargetEvents, opts: DockerFollowerOptions = {}) {
    this.docker = docker;
    this.spec = spec;
    this.events = events;
    this.selector = spec.selector !== undefined ? parseSelector(spec.selector) : null;
    this.retries = new Backoff({ baseMs: opts.retryMs ?? 1000, maxMs: 30_000 });
  }

  /** Resolves once the running containers are listed; an unreachable engine is reported and retried. */
  start(): Promise<void> {
    this.started ??= this.connect();
    return this.started;
  }

  close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retryTimer);
    this.stream?.destroy();
    this.stream = null;
    return this.started?.then(() => {}) ?? Promise.resolve();
  }

  private async connect(): Promise<void> {
    try {
      const stream = (await this.docker.getEvents({ filters: { type: ['container'], event: ['start', 'die', 'destroy', 'health_status'] } })) as Readable;
      if (this.closed) {
        stream.destroy();
        return;
      }
      this.stream = stream;
      this.follow(stream);
      this.listing = true;
      const running = await this.docker.listContainers({ filters: { status: ['running'] } }).finally(() => {
        this.listing = false;
      });
      if (this.closed) return;
      const ids = new Set<string>();
      const stopped = new Set(this.stoppedDuringList);
      this.stoppedDuringList.clear();
      for (const c of running) {
        if (stopped.has(c.Id)) continue;
        if (!this.matches(c.Labels ?? {}, c.Names.map((n) => n.replace(/^\//, '')), c.Id)) continue;
        ids.add(c.Id);
        this.add(c.Id, c.Names[0]?.replace(/^\//, '') ?? c.Id.slice(0, 12));
        // "Up 3 seconds (health: starting)", "Up 1 minute (unhealthy)": not ready until healthy.
        if (/\((health: starting|unhealthy)\)/.test(c.Status)) this.events.ready?.(c.Id, false);
      }
      // After a reconnect: what stopped while we were not listening.
      for (const id of [...this.known.keys()]) if (!ids.has(id)) this.remove(id);
      this.retries.reset();
      this.events.problem(null);
    } catch (err) {
      this.stream?.destroy();
      this.stream = null;
      this.lost(`docker engine: ${(err as Error).message}`);
    }
  }

  private follow(stream: Readable): void {
    let buffered = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      buffered += chunk;
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl).trim();
        buffered = buffered.slice(nl + 1);
        if (line) this.onEvent(line);
      }
    });
    const ended = (): void => {
      if (this.stream === stream) {
        this.stream = null;
        this.lost('docker engine: event stream ended');
      }
    };
    stream.on('error', ended);
    stream.on('close', ended);
  }

  private onEvent(line: string): void {
    let ev: { Action?: string; status?: string; Actor?: { ID?: string; Attributes?: Record<string, string> } };
    try {
      ev = JSON.parse(line) as typeof ev;
    } catch {
      return;
    }
    const action = ev.Action ?? ev.status;
    const id = ev.Actor?.ID;
    if (!id) return;
    if (action === 'die' || action === 'destroy') {
      if (this.listing) this.stoppedDuringList.add(id);
      this.remove(id);
      return;
    }
    if (action?.startsWith('health_status')) {
      if (this.known.has(id)) this.events.ready?.(id, action === 'health_status: healthy');
      return;
    }
    if (action !== 'start') return;
    // Event attributes carry the container's labels and its name: enough to match without an inspect.
    const { name = id.slice(0, 12), ...rest } = ev.Actor?.Attributes ?? {};
    const { image: _image, ...labels } = rest;
    if (!this.matches(labels, [name], id)) return;
    this.add(id, name);
    void this.checkHealth(id);
  }

  /** A container just started: with a HEALTHCHECK it is not ready until its first healthy check (an event). */
  private async checkHealth(id: string): Promise<void> {
    try {
      const info = await this.docker.getContainer(id).inspect();
      const health = info.State.Health?.Status;
      if (health !== undefined && health !== 'healthy' && this.known.has(id)) this.events.ready?.(id, false);
    } catch {
      // Gone already: its die event follows.
    }
  }

  private matches(labels: Readonly<Record<string, string>>, names: readonly string[], id: string): boolean {
    if (this.selector) return matchesSelector(this.selector, labels);
    const wanted = this.spec.pod!;
    return names.includes(wanted) || (wanted.length >= 12 && id.startsWith(wanted));
  }

  private add(id: string, name: string): void {
    if (this.closed || this.known.has(id)) return;
    this.known.set(id, name);
    this.events.added({ id, name });
  }

  private remove(id: string): void {
    if (this.closed || !this.known.delete(id)) return;
    this.events.removed(id);
  }

  private lost(reason: string): void {
    if (this.closed) return;
    this.events.problem(`${reason}; retrying`);
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.started = this.connect();
    }, this.retries.next());
  }
}
