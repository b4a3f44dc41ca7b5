// kx doctor: named checks, each pass/fail/skip with a hint for what to do.

import Docker from 'dockerode';
import { readFile } from 'node:fs/promises';
import type { KxConfig } from '../../pkg/config/types.ts';
import { configStore, statusClient } from '../root.ts';

interface Check {
  readonly name: string;
  readonly result: 'pass' | 'fail' | 'skip';
  readonly detail: string;
  readonly hint?: string;
}

export async function doctor(args: { config?: string | undefined }): Promise<void> {
  const checks: Check[] = [];
  const store = configStore(args);
  let config: KxConfig | null = null;
  try {
    config = (await store.load()).config;
    checks.push({ name: 'config valid', result: 'pass', detail: `${store.file}: ${config.specs.length} spec(s)` });
  } catch (err) {
    checks.push({ name: 'config valid', result: 'fail', detail: (err as Error).message, hint: 'fix the line named, or recreate the spec with kx create' });
  }
  checks.push(await daemonCheck(config));
  const specs = config?.specs ?? [];
  checks.push(await dockerCheck(specs.some((s) => s.target === 'docker')));
  checks.push(await clusterCheck(config));
  checks.push(await inotifyCheck());
  for (const c of checks) {
    process.stdout.write(`${c.result.toUpperCase().padEnd(4)}  ${c.name}: ${c.detail}${c.result === 'fail' && c.hint ? `\n      hint: ${c.hint}` : ''}\n`);
  }
  if (checks.some((c) => c.result === 'fail')) process.exitCode = 1;
}

async function daemonCheck(config: KxConfig | null): Promise<Check> {
  const port = config?.settings.statusPort ?? 7341;
  const client = statusClient(port);
  try {
    const status = await client.get(1000);
    return { name: 'daemon reachable', result: 'pass', detail: `pid ${status.pid} on 127.0.0.1:${port}` };
  } catch (err) {
    return { name: 'daemon reachable', result: 'fail', detail: (err as Error).message, hint: 'start it with: kx watch' };
  } finally {
    client.close();
  }
}

async function dockerCheck(needed: boolean): Promise<Check> {
  const socketPath = '/var/run/docker.sock';
  try {
    const version = await new Docker({ socketPath }).version();
    return { name: 'runtime socket', result: 'pass', detail: `Docker ${version.Version} (API ${version.ApiVersion}) at ${socketPath}` };
  } catch (err) {
    if (!needed) return { name: 'runtime socket', result: 'skip', detail: `no Docker engine at ${socketPath}; no docker specs need one` };
    return { name: 'runtime socket', result: 'fail', detail: `${socketPath}: ${(err as Error).message}`, hint: 'start the Docker engine, or check you may use its socket' };
  }
}

async function clusterCheck(config: KxConfig | null): Promise<Check> {
  const kube = (config?.specs ?? []).filter((s) => s.target === 'kubernetes');
  if (kube.length === 0) return { name: 'cluster reachable', result: 'skip', detail: 'no kubernetes specs' };
  try {
    const { loadKubeconfig } = await import('../../pkg/kube/kubeconfig.ts');
    const context = kube[0]!.context ?? config?.settings.context;
    const loaded = loadKubeconfig(context !== undefined ? { context } : {});
    return { name: 'cluster reachable', result: 'pass', detail: `kubeconfig loaded${context ? ` (context ${context})` : ''}; ${describeCluster(loaded)}` };
  } catch (err) {
    return { name: 'cluster reachable', result: 'fail', detail: (err as Error).message, hint: 'check KUBECONFIG and the spec or config context' };
  }
}

function describeCluster(loaded: unknown): string {
  const server = (loaded as { kc?: { getCurrentCluster(): { server?: string } | null } }).kc?.getCurrentCluster()?.server;
  return server ? `server ${server}` : 'radar rollout is checked by kx init';
}

async function inotifyCheck(): Promise<Check> {
  const path = '/proc/sys/fs/inotify/max_user_watches';
  const text = await readFile(path, 'utf8').catch(() => null);
  if (text === null) return { name: 'inotify watch limit', result: 'skip', detail: `${path} not readable (not Linux?)` };
  const limit = Number(text.trim());
  const enough = limit >= 65536;
  return {
    name: 'inotify watch limit',
    result: enough ? 'pass' : 'fail',
    detail: `max_user_watches = ${limit}`,
    hint: 'one watch per directory synced; raise it: sysctl fs.inotify.max_user_watches=524288',
  };
}
