// A container's exec probes as the kubelet runs them: the startup probe first (readiness and liveness wait for it),
// then readiness (drives the container's `ready`, and through it the pod's Ready condition) and liveness (the
// container is killed after failureThreshold misses in a row, and the kubelet replaces it).
import type { ExecResult } from './docker-runtime.ts';
import type { Json } from './wire.ts';

export interface ProbeRunner {
  exec(id: string, cmd: string[], timeoutMs: number): Promise<ExecResult>;
}

export interface ProbeEvents {
  ready(ready: boolean): void;
  /** Liveness or startup gave up: the container must be killed. */
  unhealthy(message: string): void;
}

interface ProbeSpec { cmd: string[]; initialDelayMs: number; periodMs: number; timeoutMs: number; success: number; failure: number }

export class ContainerProbes {
  private readonly timers = new Set<NodeJS.Timeout>();
  private closed = false;
  private readonly startedAt = Date.now();
  private readonly runner: ProbeRunner;
  private readonly id: string;
  private readonly container: Json;
  private readonly on: ProbeEvents;

  constructor(runner: ProbeRunner, id: string, container: Json, on: ProbeEvents) {
    this.runner = runner;
    this.id = id;
    this.container = container;
    this.on = on;
  }

  /** Whether the container has a readiness probe (without one it is ready once running). */
  static hasReadiness(container: Json): boolean {
    return !!container.readinessProbe;
  }

  start(): void {
    const startup = parse(this.container.startupProbe as Json | undefined);
    if (startup) this.loop(startup, 'Startup', (ok) => { if (ok) { this.afterStartup(); return false; } return true; });
    else this.afterStartup();
  }

  close(): void {
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  private afterStartup(): void {
    const readiness = parse(this.container.readinessProbe as Json | undefined);
    const liveness = parse(this.container.livenessProbe as Json | undefined);
    if (readiness) {
      let ready = false;
      this.loop(readiness, 'Readiness', (ok, streak) => {
        if (ok && !ready && streak >= readiness.success) { ready = true; this.on.ready(true); }
        if (!ok && ready && streak >= readiness.failure) { ready = false; this.on.ready(false); }
        return true;
      });
    }
    if (liveness) this.loop(liveness, 'Liveness', () => true);
  }

  /** Runs `p` every period; `step` gets each result and the length of the current streak, false stops the loop. */
  private loop(p: ProbeSpec, kind: string, step: (ok: boolean, streak: number) => boolean): void {
    let last: boolean | undefined;
    let streak = 0;
    const tick = async () => {
      if (this.closed) return;
      const r = await this.runner.exec(this.id, p.cmd, p.timeoutMs).catch(() => ({ exitCode: -1 }));
      if (this.closed) return;
      const ok = r !== undefined && r.exitCode === 0;
      streak = ok === last ? streak + 1 : 1;
      last = ok;
      if (!ok && kind !== 'Readiness' && streak >= p.failure) {
        this.on.unhealthy(`${kind} probe failed: ${r === undefined ? `command timed out after ${p.timeoutMs / 1000}s` : `exit code ${r.exitCode}`}`);
        return;
      }
      if (!step(ok, streak)) return;
      this.after(p.periodMs, tick);
    };
    this.after(Math.max(0, this.startedAt + p.initialDelayMs - Date.now()), tick);
  }

  private after(ms: number, fn: () => Promise<void>): void {
    if (this.closed) return;
    const t = setTimeout(() => { this.timers.delete(t); void fn(); }, ms);
    this.timers.add(t);
  }
}

function parse(p: Json | undefined): ProbeSpec | undefined {
  if (!p) return undefined;
  return {
    cmd: (p.exec as Json).command as string[],
    initialDelayMs: Number(p.initialDelaySeconds ?? 0) * 1000,
    periodMs: Number(p.periodSeconds ?? 10) * 1000,
    timeoutMs: Number(p.timeoutSeconds ?? 1) * 1000,
    success: Number(p.successThreshold ?? 1),
    failure: Number(p.failureThreshold ?? 3),
  };
}
