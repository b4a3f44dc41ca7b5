// radar serving the local Docker target: the containers of one Docker engine, for the one kx that started this radar
// as a container on that engine and gave it a token. The same resolver, receiver and reloader as on a Kubernetes
// node; only the authorization differs (one token instead of per-namespace Secrets).
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ErrorCode, KxError } from '../pkg/sync/errors.ts';
import type { Hasher } from '../pkg/sync/hash.ts';
import { CoalescingReloader } from '../pkg/runtime/coalesce.ts';
import { DockerRuntime } from '../pkg/runtime/docker.ts';
import { ContainerExecutor } from '../pkg/runtime/exec.ts';
import { ContainerReloader } from '../pkg/runtime/reload.ts';
import { ContainerRootResolver } from '../pkg/runtime/resolve.ts';
import { StaticTokenAuthorizer } from './auth/static-token.ts';
import { RadarServer } from './grpc/server.ts';

export interface DockerTargetOptions {
  readonly listen: string;
  readonly dockerSocket: string;
  /** tcp://HOST:PORT: the engine over tcp instead of dockerSocket. */
  readonly dockerHost?: string;
  /** ca.pem, cert.pem, key.pem of a TLS engine. */
  readonly tlsDir?: string;
  readonly token: string;
  readonly restartGraceSeconds?: number;
  readonly fsync?: boolean;
  readonly hasher: Hasher;
  readonly log?: (line: string) => void;
  readonly closeGraceMs?: number;
}

export class DockerTargetRadar {
  readonly #opts: DockerTargetOptions;
  #runtime: DockerRuntime | undefined;
  #reloader: CoalescingReloader | undefined;
  #server: RadarServer | undefined;
  #started: Promise<{ address: string; port: number }> | undefined;
  #closed: Promise<void> | undefined;

  constructor(opts: DockerTargetOptions) {
    this.#opts = opts;
  }

  /** Checks the engine answers, then serves. On failure, what was opened is closed. */
  start(): Promise<{ address: string; port: number }> {
    this.#started ??= this.#start().catch(async (err: unknown) => {
      await this.close();
      throw err;
    });
    return this.#started;
  }

  /** The server first (in-flight calls finish), then pending reloads, then the engine client. */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      await this.#server?.close();
      await this.#reloader?.close();
      await this.#runtime?.close();
    })();
    return this.#closed;
  }

  async #start(): Promise<{ address: string; port: number }> {
    const o = this.#opts;
    const authorizer = new StaticTokenAuthorizer(o.token);
    this.#runtime = new DockerRuntime(o.dockerHost === undefined ? { socketPath: o.dockerSocket } : { engine: await tcpEngine(o.dockerHost, o.tlsDir) });
    await this.#runtime.start();
    this.#reloader = new CoalescingReloader({
      inner: new ContainerReloader({ runtimes: { docker: this.#runtime }, ...(o.restartGraceSeconds === undefined ? {} : { graceSeconds: o.restartGraceSeconds }) }),
    });
    this.#server = new RadarServer({
      listen: o.listen,
      resolver: new ContainerRootResolver({ runtimes: { docker: this.#runtime }, authorizer }),
      reloader: this.#reloader,
      executor: new ContainerExecutor({ runtimes: { docker: this.#runtime } }),
      hasher: o.hasher,
      name: 'radar@docker',
      fsync: o.fsync ?? false,
      ...(o.closeGraceMs === undefined ? {} : { closeGraceMs: o.closeGraceMs }),
    });
    if (this.#closed) throw new KxError(ErrorCode.Cancelled, 'radar: closed while starting');
    const bound = await this.#server.start();
    (o.log ?? ((line) => process.stderr.write(`${line}\n`)))(`radar: serving the docker containers of ${o.dockerHost ?? o.dockerSocket}`);
    return bound;
  }
}

async function tcpEngine(host: string, tlsDir: string | undefined): Promise<{ options: import('dockerode').DockerOptions; shown: string }> {
  const url = new URL(host);
  const base = { host: url.hostname, port: Number(url.port) };
  if (tlsDir === undefined) return { options: { ...base, protocol: 'http' }, shown: host };
  const read = async (name: string): Promise<Buffer> => {
    try {
      return await readFile(join(tlsDir, name));
    } catch (err) {
      throw new KxError(ErrorCode.InvalidConfig, `--docker-tls-dir ${tlsDir}: cannot read ${name} (${(err as NodeJS.ErrnoException).code ?? String(err)})`, { cause: err });
    }
  };
  const [ca, cert, key] = await Promise.all([read('ca.pem'), read('cert.pem'), read('key.pem')]);
  return { options: { ...base, protocol: 'https', ca, cert, key }, shown: host };
}
