// Test helpers: real containers on the local Docker engine (kx-test-busybox:1), removed after each test file.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { poll } from '../support/poll.ts';

const exec = promisify(execFile);

export const IMAGE = 'kx-test-busybox:1';
export const DOCKER_CONTAINERD_SOCKET = '/var/run/docker/containerd/containerd.sock';

export async function docker(...args: string[]): Promise<string> {
  const { stdout } = await exec('docker', args, { maxBuffer: 16 << 20 });
  return stdout.trim();
}

/** `ctr` against Docker's own containerd, namespace moby. */
export async function ctrMoby(...args: string[]): Promise<string> {
  const { stdout } = await exec('ctr', ['-a', DOCKER_CONTAINERD_SOCKET, '-n', 'moby', ...args]);
  return stdout.trim();
}

export function testName(what: string): string {
  return `kx-test-${what}-${randomBytes(4).toString('hex')}`;
}

/** Tracks what a test file creates so afterAll removes all of it. */
export class Containers {
  readonly #containers: string[] = [];
  readonly #volumes: string[] = [];

  /** Starts a detached container running `script` under sh; returns its full ID. */
  async run(script: string, opts: { args?: string[]; name?: string } = {}): Promise<string> {
    const name = opts.name ?? testName('c');
    this.#containers.push(name);
    return docker('run', '-d', '--name', name, ...(opts.args ?? []), IMAGE, 'sh', '-c', script);
  }

  async volume(): Promise<string> {
    const name = testName('v');
    this.#volumes.push(name);
    await docker('volume', 'create', name);
    return name;
  }

  async cleanup(): Promise<void> {
    if (this.#containers.length > 0) await docker('rm', '-f', '-v', ...this.#containers).catch(() => '');
    if (this.#volumes.length > 0) await docker('volume', 'rm', '-f', ...this.#volumes).catch(() => '');
  }
}

/** Polls `check` until it returns true (tests never assert on timing; this only bounds the wait). */
export async function eventually(check: () => Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  await poll(what, check, timeoutMs, 100);
}

/** A shell script for PID 1 that records the signals it gets in `log` and keeps running. */
export function recorderScript(log: string, opts: { ignoreTerm?: boolean } = {}): string {
  const term = opts.ignoreTerm ? `trap 'echo TERM-ignored >> ${log}' TERM` : `trap 'echo TERM >> ${log}; exit 0' TERM`;
  return [
    `echo start >> ${log}`,
    term,
    `trap 'echo HUP >> ${log}' HUP`,
    `trap 'echo USR2 >> ${log}' USR2`,
    // wait (not a foreground sleep) returns at once when a trapped signal arrives.
    'while true; do sleep 1 & wait $!; done',
  ].join('\n');
}
