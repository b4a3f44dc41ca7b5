// Shared by the local-side end-to-end tests: containers on the real Docker engine, temp KX_HOMEs, the kx CLI.

import Docker from 'dockerode';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { poll, type Probe } from '../support/poll.ts';

export const IMAGE = 'kx-test-busybox:1';
export const docker = new Docker({ socketPath: '/var/run/docker.sock' });
const run = promisify(execFile);
const repo = resolve(import.meta.dirname, '../..');
const nodeBin = join(repo, 'node_modules/.bin/node');
const kxBin = join(repo, 'cmd/kx.ts');

export const suffix = (): string => randomBytes(4).toString('hex');

/** A container that exits promptly on SIGTERM (so restarts are quick), labelled for one test. */
export async function startContainer(labels: Record<string, string>, name = `kx-test-${suffix()}`): Promise<{ id: string; name: string }> {
  const c = await docker.createContainer({
    name,
    Image: IMAGE,
    Cmd: ['sh', '-c', 'trap "exit 0" TERM; while true; do sleep 0.1; done'],
    Labels: labels,
  });
  await c.start();
  return { id: c.id, name };
}

export async function removeContainer(name: string): Promise<void> {
  await docker.getContainer(name).remove({ force: true }).catch(() => {});
}

/** The file's content inside the container, or null when it is not there. */
export async function catInContainer(name: string, path: string): Promise<string | null> {
  try {
    return (await run('docker', ['exec', name, 'cat', path])).stdout;
  } catch {
    return null;
  }
}

export async function tempDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `kx-test-${prefix}-`));
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

export function waitFor<T>(what: string, probe: Probe<T>, timeoutMs = 45_000): Promise<T> {
  return poll(what, probe, timeoutMs);
}

/** Docker events of one kind for a container between two times (seconds since the epoch). */
export async function countEvents(containerId: string, action: string, since: number, until: number): Promise<number> {
  const stream = (await docker.getEvents({ since, until, filters: { container: [containerId], event: [action] } }));
  let text = '';
  for await (const chunk of stream) text += chunk.toString();
  return text.split('\n').filter((l) => l.trim() !== '').length;
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function kx(args: readonly string[], env: Record<string, string>): Promise<CliResult> {
  return new Promise((resolvePromise) => {
    execFile(nodeBin, [kxBin, ...args], { env: { ...process.env, ...env }, cwd: repo }, (err, stdout, stderr) => {
      resolvePromise({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

export function kxSpawn(args: readonly string[], env: Record<string, string>): ChildProcess & { output(): string } {
  const child = spawn(nodeBin, [kxBin, ...args], { env: { ...process.env, ...env }, cwd: repo, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  return Object.assign(child, { output: () => output });
}

export function exitOf(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((r) => child.once('exit', (code, signal) => r({ code, signal })));
}

/**
 * A port for a test's listener, below Linux's ephemeral range (32768 and up by default): a port the kernel may
 * have given an outgoing connection of another test at that moment cannot be bound.
 */
export function randomPort(): number {
  return 20000 + Math.floor(Math.random() * 12000);
}
