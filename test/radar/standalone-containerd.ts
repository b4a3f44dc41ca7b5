// A standalone containerd (Debian's package) of the test's own: its own socket, root and state under a temp dir,
// the CRI plugin off, the offline test image imported into namespace k8s.io. Containers are started with `ctr run`
// and labelled the way Kubernetes' CRI plugin labels them.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { IMAGE, eventually } from './containers.ts';

const exec = promisify(execFile);
const IMAGE_REF = `docker.io/library/${IMAGE}`;

export class StandaloneContainerd {
  readonly dir: string;
  readonly socket: string;
  readonly namespace = 'k8s.io';
  readonly #daemon: ChildProcess;
  readonly #containers: string[] = [];

  private constructor(dir: string, daemon: ChildProcess) {
    this.dir = dir;
    this.socket = join(dir, 'containerd.sock');
    this.#daemon = daemon;
  }

  static async start(): Promise<StandaloneContainerd> {
    const dir = await mkdtemp(join(tmpdir(), 'kx-test-containerd-'));
    const config = join(dir, 'config.toml');
    await writeFile(
      config,
      [
        'version = 2',
        `root = "${dir}/root"`,
        `state = "${dir}/state"`,
        'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
        '[grpc]',
        `  address = "${dir}/containerd.sock"`,
        '[ttrpc]',
        `  address = "${dir}/containerd.sock.ttrpc"`,
        '[debug]',
        '  address = ""',
        '[metrics]',
        '  address = ""',
        '',
      ].join('\n'),
    );
    const daemon = spawn('containerd', ['--config', config], { stdio: 'ignore' });
    const ctd = new StandaloneContainerd(dir, daemon);
    await eventually(async () => (await ctd.ctr('version'), true), 'the standalone containerd to answer');
    await exec('sh', ['-c', `docker save ${IMAGE} | ctr -a ${ctd.socket} -n ${ctd.namespace} images import -`]);
    return ctd;
  }

  ctr(...args: string[]): Promise<string> {
    return exec('ctr', ['-a', this.socket, '-n', this.namespace, ...args]).then((r) => r.stdout.trim());
  }

  /** Runs `script` under sh in a new container; returns its ID. */
  async run(id: string, script: string, opts: { labels?: Record<string, string>; bind?: { src: string; dst: string } } = {}): Promise<string> {
    this.#containers.push(id);
    const labels = Object.entries(opts.labels ?? {}).flatMap(([k, v]) => ['--label', `${k}=${v}`]);
    const mounts = opts.bind ? ['--mount', `type=bind,src=${opts.bind.src},dst=${opts.bind.dst},options=rbind:rw`] : [];
    await this.ctr('run', '-d', ...labels, ...mounts, IMAGE_REF, id, 'sh', '-c', script);
    return id;
  }

  /** Removes the containers, stops the daemon, deletes its directories. */
  async close(): Promise<void> {
    for (const id of this.#containers) {
      await this.ctr('tasks', 'kill', '-s', 'SIGKILL', id).catch(() => '');
      await eventually(async () => {
        await this.ctr('tasks', 'rm', '-f', id).catch(() => '');
        return !(await this.ctr('tasks', 'ls', '-q')).split('\n').includes(id);
      }, `task ${id} to go`);
      await this.ctr('containers', 'rm', id).catch(() => '');
    }
    const exited = new Promise((r) => this.#daemon.once('exit', r));
    this.#daemon.kill('SIGTERM');
    await exited;
    await rm(this.dir, { recursive: true, force: true });
  }
}
