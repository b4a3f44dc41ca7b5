// kx doctor: named checks as a table (CHECK, RESULT, DETAIL, HINT); exit code 1 when any check fails.
// Local checks first (config, daemon, Docker engine, inotify), then the cluster's (pkg/cluster/doctor-checks.ts)
// for every context and namespace the Kubernetes specs use.

import Docker from 'dockerode';
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { KxConfig, SpecConfig } from '../../pkg/config/types.ts';
import { watchedDirectories } from '../../pkg/daemon/watch-budget.ts';
import { resolveEngineAddress } from '../../pkg/docker/engine-address.ts';
import { renderGrid } from '../../pkg/ui/table.ts';
import { configStore, kubeconfig, kubeContext } from '../composition/root.ts';
import { daemonOf, type DaemonArgs } from './daemon-of.ts';
import { fail } from './fail.ts';

export interface DoctorArgs extends DaemonArgs {
  context?: string | undefined;
  namespace?: string | undefined;
  radarNamespace?: string | undefined;
}

interface Check {
  readonly name: string;
  readonly result: 'pass' | 'fail' | 'skip' | 'unverified';
  readonly detail: string;
  readonly hint?: string | undefined;
}

const DOCKER_SOCKET = '/var/run/docker.sock';
const INOTIFY_LIMIT = '/proc/sys/fs/inotify/max_user_watches';

export async function doctor(args: DoctorArgs): Promise<void> {
  try {
    const checks: Check[] = [];
    const store = configStore(args, args.home !== undefined ? { KX_HOME: resolve(args.home) } : process.env);
    let config: KxConfig | null = null;
    try {
      config = (await store.load()).config;
      checks.push({ name: 'config valid', result: 'pass', detail: `${store.file}: ${config.specs.length} spec(s)` });
    } catch (err) {
      checks.push({ name: 'config valid', result: 'fail', detail: (err as Error).message, hint: 'fix the line named, or recreate the spec with kx create' });
    }
    const specs = config?.specs ?? [];
    checks.push(await daemonCheck(args, store.file));
    checks.push(await dockerCheck(specs.some((s) => s.target === 'docker')));
    if (specs.some((s) => s.target === 'docker')) checks.push(await radarContainerCheck(store.file));
    checks.push(await inotifyCheck(specs));
    checks.push(...(await clusterChecks(args, config)));

    const grid = [['CHECK', 'RESULT', 'DETAIL', 'HINT'], ...checks.map((c) => [c.name, c.result, c.detail, c.result === 'fail' ? (c.hint ?? '') : ''])];
    process.stdout.write(`${renderGrid(grid)}\n`);
    const failed = checks.filter((c) => c.result === 'fail');
    if (failed.length > 0) {
      process.stderr.write(`kx doctor: ${failed.length} check(s) failed: ${failed.map((c) => c.name).join(', ')}\n`);
      process.exitCode = 1;
    }
  } catch (err) {
    fail(err);
  }
}

/** Through the home's daemon.json, so that it is found even when kx.yaml is broken or names another port. */
async function daemonCheck(args: DaemonArgs, configFile: string): Promise<Check> {
  const name = 'daemon reachable';
  const found = await daemonOf(args, 1000);
  switch (found.kind) {
    case 'running': {
      const { pid, version } = found.status;
      return { name, result: 'pass', detail: `pid ${pid} on 127.0.0.1:${found.port}${version ? `, kx ${version}` : ''}, serving ${configFile}` };
    }
    case 'busy':
      return { name, result: 'unverified', detail: found.message };
    case 'other':
      return { name, result: 'fail', detail: found.message, hint: 'run kx doctor with that config, or stop that daemon' };
    case 'none':
      return { name, result: 'fail', detail: found.message, hint: 'start it with: kx watch' };
  }
}

async function dockerCheck(needed: boolean): Promise<Check> {
  // The engine kx watch uses: DOCKER_HOST, the docker context, else the default socket.
  let where = DOCKER_SOCKET;
  try {
    const engine = await resolveEngineAddress();
    where = `${engine.url} (${engine.source})`;
    const version = await new Docker(engine.options).version();
    return { name: 'runtime socket found', result: 'pass', detail: `Docker ${version.Version} (API ${version.ApiVersion}) at ${where}` };
  } catch (err) {
    if (!needed) return { name: 'runtime socket found', result: 'skip', detail: `no Docker engine at ${where}; no docker specs need one` };
    return { name: 'runtime socket found', result: 'fail', detail: `${where}: ${(err as Error).message}`, hint: 'start the Docker engine, or check DOCKER_HOST / the docker context and that you may use its socket' };
  }
}

/** The radar containers of this kx home on the engine: one a running kx watch uses, or one left for the next. */
async function radarContainerCheck(configFile: string): Promise<Check> {
  const name = 'docker radar container';
  try {
    const [engine, { describeRadarContainers, homeHash }] = await Promise.all([resolveEngineAddress(), import('../../pkg/docker/radar-container.ts')]);
    const lines = await describeRadarContainers(new Docker(engine.options), homeHash(dirname(configFile)));
    return { name, result: 'pass', detail: lines.length === 0 ? 'none (kx watch starts one)' : lines.join('; ') };
  } catch (err) {
    return { name, result: 'skip', detail: `cannot list radar containers: ${(err as Error).message}` };
  }
}

async function inotifyCheck(specs: readonly SpecConfig[]): Promise<Check> {
  const name = 'inotify watch limit';
  const text = await readFile(INOTIFY_LIMIT, 'utf8').catch(() => null);
  if (text === null) return { name, result: 'skip', detail: `${INOTIFY_LIMIT} not readable (not Linux?)` };
  const limit = Number(text.trim());
  const dirs = await watchedDirectories(specs, limit);
  const detail = `max_user_watches = ${limit}; the specs' local trees have ${dirs > limit ? `more than ${limit}` : dirs} director${dirs === 1 ? 'y' : 'ies'} to watch`;
  if (dirs <= limit) return { name, result: 'pass', detail };
  return { name, result: 'fail', detail, hint: `one watch per directory: raise it, e.g. sysctl fs.inotify.max_user_watches=${Math.max(524288, nextPow2(dirs * 2))}, or ignore more` };
}

/** Cluster checks per context the Kubernetes specs use (RBAC per namespace); with none, only if a context is set. */
async function clusterChecks(args: DoctorArgs, config: KxConfig | null): Promise<Check[]> {
  const fallback = kubeContext(args.context, config);
  const targets = new Map<string, Set<string | undefined>>();
  const add = (context: string | undefined, namespace: string | undefined) => {
    const key = context ?? '';
    if (!targets.has(key)) targets.set(key, new Set());
    targets.get(key)!.add(namespace);
  };
  for (const s of config?.specs ?? []) {
    if (s.target === 'kubernetes') add(s.context ?? fallback, args.namespace ?? s.namespace ?? config?.settings.namespace);
  }
  if (targets.size === 0 && (fallback !== undefined || args.namespace !== undefined)) add(fallback, args.namespace ?? config?.settings.namespace);
  if (targets.size === 0) return [{ name: 'cluster reachable', result: 'skip', detail: 'no kubernetes specs (give --context to check a cluster anyway)' }];

  const { runDoctor, checkRbac } = await import('../../pkg/cluster/doctor-checks.ts');
  const { packageVersion } = await import('../../pkg/cluster/chart.ts');
  const version = await packageVersion();
  const out: Check[] = [];
  const label = (name: string, context: string) => (targets.size > 1 ? `${name} [${context}]` : name);
  for (const [key, namespaces] of targets) {
    const context = key === '' ? undefined : key;
    let loaded;
    try {
      loaded = await kubeconfig(context);
    } catch (err) {
      out.push({ name: label('cluster reachable', context ?? 'current'), result: 'fail', detail: (err as Error).message,
        hint: 'pick one of the contexts listed (kubectl config get-contexts), or check KUBECONFIG' });
      continue;
    }
    const [first, ...rest] = [...namespaces].map((ns) => ns ?? loaded.namespace);
    const base = { kubeConfig: loaded.kc, context: loaded.context, version, ...(args.radarNamespace && { radarNamespace: args.radarNamespace }) };
    const results = [...(await runDoctor({ ...base, namespace: first }))];
    // An unreachable cluster answers only the first check; asking again per namespace would repeat it.
    if (results.length > 1) for (const ns of new Set(rest)) if (ns !== first) results.push(...(await checkRbac({ ...base, namespace: ns })));
    for (const c of results) {
      out.push({ name: label(c.name, loaded.context), result: !c.ok ? 'fail' : c.verified === false ? 'unverified' : 'pass', detail: c.detail, hint: c.hint });
    }
  }
  return out;
}

function nextPow2(n: number): number {
  return 2 ** Math.ceil(Math.log2(Math.max(1, n)));
}
