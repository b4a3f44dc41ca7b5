// The slice of the Docker engine the simulated kubelet needs: a pod sandbox holding the network namespace (and
// the 127.0.0.1 port publications), app containers joined to it, exits, kills, removal.
import Docker from 'dockerode';

export interface SandboxSpec {
  name: string;
  hostname: string;
  labels: Record<string, string>;
  /** Container ports to publish as 127.0.0.1::PORT. */
  ports: number[];
  /** An image with node, to run `agent` (the pod's network-namespace agent) instead of idling in busybox. */
  agent?: { image: string; script: string; mounts: Mount[] };
}

export interface Mount {
  type: 'bind' | 'tmpfs';
  /** Host path (bind only). */
  source?: string;
  target: string;
  readOnly: boolean;
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
  mounts?: Mount[];
  /** uid[:gid] */
  user?: string;
  capAdd?: string[];
  capDrop?: string[];
  readonlyRootfs?: boolean;
  /** e.g. no-new-privileges, apparmor=unconfined, seccomp=unconfined */
  securityOpt?: string[];
  hostPid?: boolean;
  privileged?: boolean;
  memoryBytes?: number;
  nanoCpus?: number;
}

/** How an exec ended: its exit code, or undefined when it outlived the timeout. */
export type ExecResult = { exitCode: number } | undefined;

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

  /** The user an image runs as when the pod does not say ('' = root). */
  async imageUser(image: string): Promise<string> {
    const info = await this.docker.getImage(image).inspect();
    return info.Config?.User ?? '';
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
    const a = spec.agent;
    const c = await this.docker.createContainer({
      name: spec.name, Hostname: spec.hostname, Image: a ? a.image : SANDBOX_IMAGE, Labels: spec.labels,
      Entrypoint: a ? ['node', '-e', a.script] : ['/bin/busybox', 'sleep', '2147483647'], Cmd: [], ExposedPorts: exposed,
      HostConfig: { PortBindings: bindings, IpcMode: 'shareable', ...(a ? { Mounts: a.mounts.map(dockerMount) } : {}) },
    });
    return this.startOrRemove(c);
  }

  private async createContainer(spec: ContainerSpec): Promise<string> {
    const host: Docker.HostConfig = {
      NetworkMode: `container:${spec.sandboxId}`, IpcMode: `container:${spec.sandboxId}`,
      Mounts: (spec.mounts ?? []).map(dockerMount),
    };
    if (spec.capAdd?.length) host.CapAdd = spec.capAdd;
    if (spec.capDrop?.length) host.CapDrop = spec.capDrop;
    if (spec.readonlyRootfs) host.ReadonlyRootfs = true;
    if (spec.securityOpt?.length) host.SecurityOpt = spec.securityOpt;
    if (spec.hostPid) host.PidMode = 'host';
    if (spec.privileged) host.Privileged = true;
    if (spec.memoryBytes) host.Memory = spec.memoryBytes;
    if (spec.nanoCpus) host.NanoCpus = spec.nanoCpus;
    const opts: Docker.ContainerCreateOptions = {
      name: spec.name, Image: spec.image, Labels: spec.labels, Env: spec.env, HostConfig: host,
    };
    if (spec.user) opts.User = spec.user;
    if (spec.entrypoint) opts.Entrypoint = spec.entrypoint;
    if (spec.cmd) opts.Cmd = spec.cmd;
    else if (spec.entrypoint) opts.Cmd = [];
    if (spec.workingDir) opts.WorkingDir = spec.workingDir;
    const c = await this.docker.createContainer(opts);
    return this.startOrRemove(c);
  }

  /** Runs `cmd` in the container (as its user) and waits for it, at most `timeoutMs`. */
  async exec(id: string, cmd: string[], timeoutMs: number): Promise<ExecResult> {
    const e = await this.docker.getContainer(id).exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true });
    const stream = await e.start({ hijack: true, stdin: false });
    const ended = new Promise<void>((resolve) => {
      stream.on('end', resolve);
      stream.on('close', resolve);
      stream.on('error', () => resolve());
      stream.resume();
    });
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => { timer = setTimeout(() => resolve('timeout'), timeoutMs); });
    const r = await Promise.race([ended, timedOut]);
    clearTimeout(timer);
    if (r === 'timeout') {
      stream.destroy();
      return undefined;
    }
    const info = await e.inspect();
    return { exitCode: info.ExitCode ?? -1 };
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

function dockerMount(m: Mount): Docker.MountSettings {
  return m.type === 'tmpfs'
    ? { Type: 'tmpfs', Source: '', Target: m.target, ReadOnly: m.readOnly }
    : { Type: 'bind', Source: m.source!, Target: m.target, ReadOnly: m.readOnly };
}
