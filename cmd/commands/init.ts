// kx init: install radar (namespace, ServiceAccount, RBAC, DaemonSet) with the user's credentials and wait until it
// is ready on every node, saying how the rollout goes; --dry-run prints the objects and applies nothing.

import { packageVersion } from '../../pkg/cluster/chart.ts';
import { init, renderManifest, type InitProgress } from '../../pkg/cluster/install.ts';
import { parseKubeVersion, radarObjects, renderOps, resolveValues, type RadarOverrides } from '../../pkg/cluster/radar-objects.ts';
import { clusterTarget } from './cluster-target.ts';
import { fail } from './fail.ts';

export interface InitArgs {
  config?: string | undefined;
  context?: string | undefined;
  namespace?: string | undefined;
  image?: string | undefined;
  containerdSocket?: string | undefined;
  dockerSocket?: string | undefined;
  grantGroup?: string[] | undefined;
  grantUser?: string[] | undefined;
  kubeVersion?: string | undefined;
  dryRun?: boolean | undefined;
  output?: 'yaml' | 'json' | undefined;
  timeout?: number | undefined;
}

export async function initCommand(args: InitArgs): Promise<void> {
  const abort = new AbortController();
  const cancel = (): void => abort.abort();
  process.once('SIGINT', cancel);
  try {
    if (args.timeout !== undefined && !(args.timeout >= 0)) throw new Error('--timeout: expected seconds (a number ≥ 0)');
    const version = await packageVersion();
    const values = resolveValues(version, initOverrides(args));
    if (args.kubeVersion !== undefined) {
      try {
        parseKubeVersion(args.kubeVersion);
      } catch (err) {
        throw new Error(`--kube-version: ${(err as Error).message}`, { cause: err });
      }
    }
    if (args.dryRun) {
      // Needs no cluster: the objects are what init would apply (to a server of --kube-version).
      process.stdout.write(renderManifest(radarObjects(values, renderOps(args.kubeVersion)), args.output ?? 'yaml'));
      return;
    }
    const { cluster } = await clusterTarget(args);
    const say = (line: string): void => void process.stderr.write(`${line}\n`);
    say(`installing radar ${version} (image ${values.image}) in namespace "${values.namespace}" of context "${cluster.context}"`);
    const result = await init({
      kubeConfig: cluster.kc,
      context: cluster.context,
      values,
      ...(args.kubeVersion && { kubeVersion: args.kubeVersion }),
      ...(args.output && { output: args.output }),
      ...(args.timeout !== undefined && { timeoutMs: args.timeout * 1000 }),
      onProgress: (p) => say(progressLine(p)),
      signal: abort.signal,
    });
    if (result.manifest) process.stdout.write(result.manifest);
    const r = result.rollout;
    process.stdout.write(r ? `radar ${version} is ready on ${r.available} of ${r.desired} node(s) in namespace "${values.namespace}"\n` : `radar ${version} applied in namespace "${values.namespace}"\n`);
  } catch (err) {
    fail(err);
  } finally {
    process.off('SIGINT', cancel);
  }
}

/** The flags as chart-style value overrides; a socket path must be absolute, a grant name not empty. */
export function initOverrides(args: InitArgs): RadarOverrides {
  for (const [flag, path] of [['--containerd-socket', args.containerdSocket], ['--docker-socket', args.dockerSocket]] as const) {
    if (path !== undefined && path !== 'auto' && !path.startsWith('/')) throw new Error(`${flag} ${JSON.stringify(path)}: expected an absolute path on the nodes, or auto`);
  }
  for (const [flag, names] of [['--grant-group', args.grantGroup], ['--grant-user', args.grantUser]] as const) {
    if (names?.some((n) => n.trim() === '')) throw new Error(`${flag}: expected a name`);
  }
  const sockets = {
    ...(args.containerdSocket !== undefined && { containerd: args.containerdSocket }),
    ...(args.dockerSocket !== undefined && { docker: args.dockerSocket }),
  };
  return {
    ...(args.namespace && { namespace: args.namespace }),
    ...(args.image && { image: args.image }),
    ...(Object.keys(sockets).length > 0 && { sockets }),
    ...((args.grantGroup?.length || args.grantUser?.length) && { grants: { groups: [...new Set(args.grantGroup ?? [])], users: [...new Set(args.grantUser ?? [])] } }),
  };
}

export function progressLine(p: InitProgress): string {
  if (p.phase === 'render') {
    return p.kubeVersion ? `  Kubernetes ${p.kubeVersion}: objects made for that release` : '  Kubernetes version unknown: objects made for every release from 1.24';
  }
  if (p.phase === 'apply') return `  ${p.kind} ${p.name}: ${p.action}`;
  const s = p.status;
  return s.done
    ? `  rollout: ready on ${s.available} of ${s.desired} node(s)`
    : `  rollout: waiting for radar on every node: ${s.updated} of ${s.desired} updated, ${s.available} available`;
}
