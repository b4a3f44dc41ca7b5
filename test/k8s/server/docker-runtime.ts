// The slice of the Docker engine the simulated kubelet needs: a pod sandbox holding the network namespace (and
// the 127.0.0.1 port publications), app containers joined to it, exits, kills, removal.
import Docker from 'dockerode';

export interface SandboxSpec {
  name: string;
  hostname: string;
  labels: Record<string, string>;
  /** Container ports to publish as 127.0.0.1::PORT. */
  ports: number[];
}

export interface ContainerSpec {
  name: string;
  image: string;
  labels: Record<string, string>;
  sandboxId: string;
  entrypoint?: string[];
  cmd?: string[];
  env?: string[];
  workingDir?: string;
}

export interface ContainerState { startedAt: string; finishedAt: string; exitCode: number; running: boolean; imageId: string }

export const SANDBOX_IMAGE = 'kx-test-busybox:1';

export class DockerRuntime {
  private readonly docker: Docker;
  private readonly imagePresent = new Map<string, Promise<boolean>>();
  private readonly inflight = new Set<Promise<unknown>>();
  private stopping = false;

  constructor(docker?: Docker) {
    this.docker = docker ?? new Docker({ socketPath: '/var/run/docker.sock' });
  }

  hasImage(image: string): Promise<boolean> {
    let p = this.imagePresent.get(image);
    if (!p) {
      p = this.docker.getImage(image).inspect().then(() => true, () => false);
      this.imagePresent.set(image, p);
    }
    return p;
  }

  /** Refuse new containers and wait for the ones being created, so that a sweep afterwards finds them all. */
  async shutdown(): Promise<void> {
    this.stopping = true;
    await Promise.allSettled([...this.inflight]);
  }

  runSandbox(spec: SandboxSpec): Promise<string> {
    return this.track(() => this.createSandbox(spec));
  }

  runContainer(spec: ContainerSpec): Promise<string> {
    return this.track(() => this.createContainer(spec));
  }

  private track(make: () => Promise<string>): Promise<string> {
    if (this.stopping) return Promise.reject(new Error('docker runtime is shutting down'));
    const p = make();
    this.inflight.add(p);
    void p.finally(() => this.inflight.delete(p)).catch(() => undefined);
    return p;
  }

  /** Create and start; a container that was created but could not start is removed, not left behind. */
  private async startOrRemove(c: Docker.Container): Promise<string> {
    try {
      await c.start();
    } catch (err) {
      await c.remove({ force: true }).catch(() => undefined);
      throw err;
    }
    return c.id;
  }

  private async createSandbox(spec: SandboxSpec): Promise<string> {
    const exposed: Record<string, object> = {};
    const bindings: Record<string, { HostIp: string; HostPort: string }[]> = {};
    for (const p of spec.ports) {
      exposed[`${p}/tcp`] = {};
      bindings[`${p}/tcp`] = [{ HostIp: '127.0.0.1', HostPort: '' }];
    }
    const c = await this.docker.createContainer({
      name: spec.name, Hostname: spec.hostname, Image: SANDBOX_IMAGE, Labels: spec.labels,
      Entrypoint: ['/bin/busybox', 'sleep', '2147483647'], Cmd: [], ExposedPorts: exposed,
      HostConfig: { PortBindings: bindings, IpcMode: 'shareable' },
    });
    return this.startOrRemove(c);
  }

  private async createContainer(spec: ContainerSpec): Promise<string> {
    const opts: Docker.ContainerCreateOptions = {
      name: spec.name, Image: spec.image, Labels: spec.labels, Env: spec.env,
      HostConfig: { NetworkMode: `container:${spec.sandboxId}`, IpcMode: `container:${spec.sandboxId}` },
    };
    if (spec.entrypoint) opts.Entrypoint = spec.entrypoint;
    if (spec.cmd) opts.Cmd = spec.cmd;
    else if (spec.entrypoint) opts.Cmd = [];
    if (spec.workingDir) opts.WorkingDir = spec.workingDir;
    const c = await this.docker.createContainer(opts);
    return this.startOrRemove(c);
  }

  /** Host port on 127.0.0.1 that Docker published for a sandbox's container port. */
  async publishedPort(sandboxId: string, port: number): Promise<number | undefined> {
    const info = await this.docker.getContainer(sandboxId).inspect();
    const b = info.NetworkSettings.Ports?.[`${port}/tcp`]?.[0];
    return b ? Number(b.HostPort) : undefined;
  }

  async state(id: string): Promise<ContainerState> {
    const info = await this.docker.getContainer(id).inspect();
    return {
      startedAt: info.State.StartedAt, finishedAt: info.State.FinishedAt, exitCode: info.State.ExitCode,
      running: info.State.Running, imageId: info.Image,
    };
  }

  /** Resolves with the exit code when the container stops (or -1 if it vanished). */
  async wait(id: string): Promise<number> {
    try {
      const r = (await this.docker.getContainer(id).wait()) as { StatusCode: number };
      return r.StatusCode;
    } catch {
      return -1;
    }
  }

  async kill(id: string, signal = 'SIGKILL'): Promise<void> {
    await this.docker.getContainer(id).kill({ signal }).catch(() => undefined);
  }

  /** SIGTERM, then SIGKILL after `graceSeconds`, as the kubelet stops a container. */
  async stop(id: string, graceSeconds: number): Promise<void> {
    await this.docker.getContainer(id).stop({ t: graceSeconds }).catch(() => undefined);
  }

  async remove(id: string): Promise<void> {
    await this.docker.getContainer(id).remove({ force: true }).catch(() => undefined);
  }

  /** Every container carrying this label value, running or not (for cleanup). */
  async listByLabel(label: string, value: string): Promise<string[]> {
    const list = await this.docker.listContainers({ all: true, filters: { label: [`${label}=${value}`] } });
    return list.map((c) => c.Id);
  }
}
