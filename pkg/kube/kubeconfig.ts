// Load cluster credentials the way kubectl resolves them, so `kx` talks to the same cluster as the user's kubectl:
// --kubeconfig, else KUBECONFIG (a path list merged first-wins), else ~/.kube/config, else the in-cluster
// service account; then --context (or the current-context) selects the cluster and user.
import { existsSync, readFileSync } from 'node:fs';
import { isIPv6 } from 'node:net';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import type { Cluster, Context, User } from '@kubernetes/client-node';
import { ErrorCode, KxError } from '../sync/errors.ts';

export interface KubeconfigOptions {
  /** --context: overrides the kubeconfig's current-context. */
  readonly context?: string;
  /** --kubeconfig: this one file only (KUBECONFIG and ~/.kube/config are then not read). */
  readonly kubeconfig?: string;
  /** Defaults to process.env. */
  readonly env?: NodeJS.ProcessEnv;
  /** Defaults to os.homedir(). */
  readonly homeDir?: string;
  /** Prefix of the service-account directory for in-cluster config (tests); default ''. */
  readonly inClusterPathPrefix?: string;
}

export interface LoadedKubeconfig {
  /** Ready for client-node, its current context set to `context`. */
  readonly kc: KubeConfig;
  /** The context in use. */
  readonly context: string;
  /** The context's namespace, 'default' when it sets none. */
  readonly namespace: string;
  /** Where it came from, for messages: file paths joined with ':' or 'in-cluster'. */
  readonly source: string;
}

/** Throws KxError INVALID_CONFIG with one line naming the file or context at fault. */
export function loadKubeconfig(opts: KubeconfigOptions = {}): LoadedKubeconfig {
  const env = opts.env ?? process.env;
  const files = kubeconfigFiles(opts, env);
  const existing = files.filter((f) => existsSync(f));
  if (opts.kubeconfig !== undefined && existing.length === 0) {
    throw new KxError(ErrorCode.InvalidConfig, `kubeconfig ${opts.kubeconfig}: no such file`);
  }
  if (existing.length > 0) return select(mergeFiles(existing), opts.context, existing.join(delimiter));
  if (inClusterAvailable(env, opts.inClusterPathPrefix ?? '')) {
    return select(inClusterConfig(env, opts.inClusterPathPrefix ?? ''), opts.context, 'in-cluster');
  }
  const where = env.KUBECONFIG ? `KUBECONFIG=${env.KUBECONFIG}` : join(opts.homeDir ?? homedir(), '.kube', 'config');
  throw new KxError(ErrorCode.InvalidConfig, `no kubeconfig found (${where} does not exist and kx is not running in a cluster)`);
}

/** The files kubectl would read, in precedence order (missing ones included; kubectl skips them). */
export function kubeconfigFiles(opts: Pick<KubeconfigOptions, 'kubeconfig' | 'homeDir'>, env: NodeJS.ProcessEnv): string[] {
  if (opts.kubeconfig !== undefined) return [opts.kubeconfig];
  if (env.KUBECONFIG) return [...new Set(env.KUBECONFIG.split(delimiter).filter((f) => f !== ''))];
  return [join(opts.homeDir ?? homedir(), '.kube', 'config')];
}

function mergeFiles(files: readonly string[]): KubeConfig {
  // kubectl's merge: the first file to define a name wins, and so does the first current-context set.
  // (client-node's own mergeConfig throws on duplicates and lets the last current-context win.)
  const clusters = new Map<string, Cluster>();
  const users = new Map<string, User>();
  const contexts = new Map<string, Context>();
  let currentContext = '';
  for (const file of files) {
    const one = new KubeConfig();
    try {
      one.loadFromFile(file);
    } catch (err) {
      throw new KxError(ErrorCode.InvalidConfig, `kubeconfig ${file}: ${oneLine(err)}`, { cause: err });
    }
    for (const c of one.getClusters()) if (!clusters.has(c.name)) clusters.set(c.name, c);
    for (const u of one.getUsers()) if (!users.has(u.name)) users.set(u.name, u);
    for (const c of one.getContexts()) if (!contexts.has(c.name)) contexts.set(c.name, c);
    if (!currentContext && one.getCurrentContext()) currentContext = one.getCurrentContext();
  }
  const kc = new KubeConfig();
  kc.loadFromOptions({ clusters: [...clusters.values()], users: [...users.values()], contexts: [...contexts.values()], currentContext });
  return kc;
}

function select(kc: KubeConfig, wanted: string | undefined, source: string): LoadedKubeconfig {
  const names = kc.getContexts().map((c) => c.name);
  const available = names.length > 0 ? `available: ${names.join(', ')}` : 'it defines no contexts';
  const name = wanted ?? kc.getCurrentContext();
  if (!name) {
    throw new KxError(ErrorCode.InvalidConfig, `kubeconfig ${source} sets no current-context; pass --context (${available})`);
  }
  const ctx = kc.getContextObject(name);
  if (!ctx) {
    throw new KxError(ErrorCode.InvalidConfig, `context "${name}" not found in kubeconfig ${source} (${available})`);
  }
  if (!kc.getCluster(ctx.cluster)) {
    throw new KxError(ErrorCode.InvalidConfig, `context "${name}" names cluster "${ctx.cluster}", which kubeconfig ${source} does not define`);
  }
  if (ctx.user && !kc.getUser(ctx.user)) {
    throw new KxError(ErrorCode.InvalidConfig, `context "${name}" names user "${ctx.user}", which kubeconfig ${source} does not define`);
  }
  kc.setCurrentContext(name);
  return { kc, context: name, namespace: ctx.namespace?.trim() || 'default', source };
}

const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

// client-node's loadFromCluster reads process.env; this honours the env we were given, with the same result.
function inClusterConfig(env: NodeJS.ProcessEnv, prefix: string): KubeConfig {
  const host = env.KUBERNETES_SERVICE_HOST ?? '';
  const port = env.KUBERNETES_SERVICE_PORT ?? '';
  const scheme = ['80', '8080', '8001'].includes(port) ? 'http' : 'https';
  const server = `${scheme}://${isIPv6(host) ? `[${host}]` : host}:${port}`;
  const nsFile = `${prefix}${SA_DIR}/namespace`;
  const namespace = existsSync(nsFile) ? readFileSync(nsFile, 'utf8').trim() : undefined;
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'inCluster', server, caFile: `${prefix}${SA_DIR}/ca.crt`, skipTLSVerify: false }],
    users: [{ name: 'inClusterUser', authProvider: { name: 'tokenFile', config: { tokenFile: `${prefix}${SA_DIR}/token` } } }],
    contexts: [{ name: 'inClusterContext', cluster: 'inCluster', user: 'inClusterUser', namespace }],
    currentContext: 'inClusterContext',
  });
  return kc;
}

function inClusterAvailable(env: NodeJS.ProcessEnv, prefix: string): boolean {
  return !!env.KUBERNETES_SERVICE_HOST && !!env.KUBERNETES_SERVICE_PORT
    && existsSync(`${prefix}${SA_DIR}/token`);
}

function oneLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0] ?? '';
}
