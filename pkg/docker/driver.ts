// The local Docker engine as a target kind. Radar's code runs in-process: its ContainerRootResolver finds the
// container's directory through /proc/<pid>/root (confined: the container's symlinks cannot lead out), its
// LocalTree is the Receiver, and its ContainerReloader restarts or signals through the engine.

import Docker from 'dockerode';
import { parseOwner } from '../config/owner.ts';
import type { SpecConfig } from '../config/types.ts';
import type { Connection, Target, TargetDriver, TargetEvents, TargetSource } from '../daemon/target.ts';
import { DockerContainerFollower } from './container-follower.ts';
import type { Hasher } from '../sync/hash.ts';
import { DockerRuntime } from '../runtime/docker.ts';
import { ContainerReloader } from '../runtime/reload.ts';
import { ContainerRootResolver } from '../runtime/resolve.ts';
import { LocalTree } from '../receiver/local-tree.ts';

export interface DockerDriverOptions {
  readonly hasher: Hasher;
  readonly socketPath?: string;
}

export class DockerDriver implements TargetDriver {
  readonly connector = { connect: (spec: SpecConfig, target: Target, signal?: AbortSignal) => this.connect(spec, target, signal) };
  private readonly hasher: Hasher;
  private readonly docker: Docker;
  private readonly runtime: DockerRuntime;
  private readonly resolver: ContainerRootResolver;
  private readonly reloader: ContainerReloader;
  private closing: Promise<void> | null = null;

  constructor(opts: DockerDriverOptions) {
    const socketPath = opts.socketPath ?? '/var/run/docker.sock';
    this.hasher = opts.hasher;
    this.docker = new Docker({ socketPath });
    this.runtime = new DockerRuntime({ socketPath });
    this.resolver = new ContainerRootResolver({ runtimes: { docker: this.runtime }, localDockerTarget: true });
    this.reloader = new ContainerReloader({ runtimes: { docker: this.runtime } });
  }

  follow(spec: SpecConfig, events: TargetEvents): TargetSource {
    return new DockerContainerFollower(this.docker, spec, events);
  }

  close(): Promise<void> {
    this.closing ??= this.runtime.close();
    return this.closing;
  }

  private async connect(spec: SpecConfig, target: Target, signal?: AbortSignal): Promise<Connection> {
    const ref = { containerId: target.id, runtime: 'docker', remotePath: spec.remote, ...(spec.owner && { owner: parseOwner(spec.owner) }) };
    const root = await this.resolver.resolve(ref, undefined, signal);
    // The resolver has already created a missing remote path, confined beneath the container's root.
    // The root is pinned to the container's process; each batch checks it is still that process.
    const tree = new LocalTree({ root: root.path, anchor: root.anchor, hasher: this.hasher, owner: root.owner, verify: (s) => root.verify(s) });
    try {
      await tree.start(signal);
    } catch (err) {
      root.close();
      throw err;
    }
    const reloader = this.reloader;
    return {
      receiver: tree,
      reload: async (mode) => {
        await reloader.reload(ref, mode);
      },
      describe: () => `docker container ${target.name} (${target.id.slice(0, 12)}) at ${spec.remote}`,
      close: async () => {
        await tree.close();
        root.close();
      },
    };
  }
}
