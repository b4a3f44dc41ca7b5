// radar's command line: flags over environment variables over defaults, and the --help text that lists them all.
// Three modes: `--root DIR` serves one directory with one token; `--docker-target` serves the containers of one
// Docker engine to the one kx that started radar there (one token); without either radar is the node agent that
// serves the containers on its node (what the DaemonSet runs).
import { parseArgs } from 'node:util';
import { ErrorCode, KxError } from '../pkg/sync/errors.ts';
import { AUTO_SOCKET, DEFAULT_DOCKER_SOCKET, KNOWN_SOCKETS, KUBERNETES_NAMESPACE } from '../pkg/runtime/sockets.ts';

export type RadarCommand =
  | { readonly mode: 'help' }
  | {
      readonly mode: 'root';
      readonly listen: string;
      readonly root: string;
      /** File holding the token; when unset the token comes from KX_TOKEN. */
      readonly tokenFile?: string;
      readonly fsync: boolean;
    }
  | {
      readonly mode: 'docker';
      readonly listen: string;
      /** The engine: a unix socket path, or a tcp:// URL (with TLS material from tlsDir). */
      readonly dockerSocket: string;
      readonly dockerHost?: string;
      /** Directory holding ca.pem, cert.pem and key.pem for a TLS engine (Docker's own layout). */
      readonly tlsDir?: string;
      /** File holding the token; when unset the token comes from KX_TOKEN. */
      readonly tokenFile?: string;
      readonly restartGraceSeconds: number;
      readonly fsync: boolean;
      /** Exit 0 once no client has been connected for this long (a container kx leaves running); 0: never. */
      readonly idleExitSeconds: number;
    }
  | {
      readonly mode: 'node';
      readonly listen: string;
      /** Node paths; '' disables the runtime, 'auto' tries the known node layouts. */
      readonly dockerSocket: string;
      readonly containerdSocket: string;
      readonly containerdNamespace: string;
      /** Where the node's paths appear for radar ('' = radar runs on the node; '/host' in its pod). */
      readonly hostRoot: string;
      /** radar's own pod, which it annotates with the runtime it uses (for kx doctor). */
      readonly podName?: string;
      /** undefined: the in-cluster config (radar's ServiceAccount). */
      readonly kubeconfig?: string;
      readonly nodeName?: string;
      readonly podNamespace?: string;
      readonly restartGraceSeconds: number;
      readonly fsync: boolean;
    };

export const DEFAULT_LISTEN = '127.0.0.1:7077';
export const DEFAULT_RESTART_GRACE_SECONDS = 5;

export const HELP = `radar — kx's node agent: receives synced files over gRPC and writes them into containers.

Usage:
  node radar/main.ts [--listen HOST:PORT] [node flags]        serve the containers on this node (the DaemonSet)
  node radar/main.ts --root DIR [--listen HOST:PORT] [--token-file FILE]   serve one directory

Flags:
  --listen HOST:PORT            address to serve on; port 0 picks a free one (default ${DEFAULT_LISTEN})
  --fsync                       fsync files before renaming them into place
  -h, --help                    this text

Node mode (no --root):
  --docker-socket PATH          Docker engine socket on the node; '' disables Docker (env KX_DOCKER_SOCKET; default ${AUTO_SOCKET})
  --containerd-socket PATH      containerd socket on the node; '' disables containerd (env KX_CONTAINERD_SOCKET; default ${AUTO_SOCKET})
                                ${AUTO_SOCKET}: the first that answers of ${KNOWN_SOCKETS.map((k) => k.path).join(', ')}
  --host-root DIR               where the node's / is mounted in radar's pod, prefixed to the socket paths
                                (env KX_HOST_ROOT; default none: radar runs on the node)
  --containerd-namespace NS     containerd namespace of Kubernetes' containers (env KX_CONTAINERD_NAMESPACE; default ${KUBERNETES_NAMESPACE})
  --kubeconfig FILE             where the API server with the kx-token Secrets is (default: the in-cluster ServiceAccount)
  --node-name NAME              this node, for logs and Handshake (env KX_NODE_NAME)
  --pod-namespace NS            radar's own namespace, for logs (env KX_POD_NAMESPACE)
  --pod-name NAME               radar's own pod, annotated with the runtime radar uses, for kx doctor (env KX_POD_NAME)
  --restart-grace SECONDS       SIGTERM-to-SIGKILL grace of the restart reload (default ${DEFAULT_RESTART_GRACE_SECONDS})
  A runtime whose socket is missing is left out (one log line); radar needs at least one.
  Clients present the token in Secret kx-token of the target pod's namespace.

Docker target mode (what kx starts as a container on the developer's Docker engine):
  --docker-target               serve every container of one Docker engine to the holder of one token
  --docker-socket PATH          the engine's socket (default ${DEFAULT_DOCKER_SOCKET})
  --docker-host tcp://HOST:PORT the engine over tcp instead of a socket
  --docker-tls-dir DIR          ca.pem, cert.pem and key.pem for a TLS engine
  --token-file FILE             file holding the token (else env KX_TOKEN holds the token)
  --restart-grace SECONDS       as in node mode
  --idle-exit SECONDS           exit 0 once no client has been connected for SECONDS (default 0: never)

Root mode:
  --root DIR                    the directory to serve
  --token-file FILE             file holding the token clients must present (else env KX_TOKEN holds the token)

radar prints "radar listening on HOST:PORT" once it serves, and exits 0 on SIGTERM or SIGINT.
`;

/** Parses argv (without node and the script) with `env` as the fallback. INVALID_CONFIG naming the flag on errors. */
export function parseRadarArgs(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): RadarCommand {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        help: { type: 'boolean', short: 'h', default: false },
        listen: { type: 'string', default: DEFAULT_LISTEN },
        fsync: { type: 'boolean', default: false },
        root: { type: 'string' },
        'token-file': { type: 'string' },
        'docker-socket': { type: 'string' },
        'containerd-socket': { type: 'string' },
        'containerd-namespace': { type: 'string' },
        kubeconfig: { type: 'string' },
        'node-name': { type: 'string' },
        'pod-namespace': { type: 'string' },
        'pod-name': { type: 'string' },
        'host-root': { type: 'string' },
        'restart-grace': { type: 'string' },
        'docker-target': { type: 'boolean', default: false },
        'docker-host': { type: 'string' },
        'docker-tls-dir': { type: 'string' },
        'idle-exit': { type: 'string' },
      },
      allowPositionals: false,
      strict: true,
    }));
  } catch (err) {
    throw new KxError(ErrorCode.InvalidConfig, `${(err as Error).message.split('\n')[0]} (see --help)`);
  }
  if (values.help) return { mode: 'help' };
  if (values['docker-target']) {
    const other = (['root', 'containerd-socket', 'containerd-namespace', 'kubeconfig', 'node-name', 'pod-namespace', 'pod-name', 'host-root'] as const).find((f) => values[f] !== undefined);
    if (other) throw new KxError(ErrorCode.InvalidConfig, `--${other} cannot be combined with --docker-target`);
    if (values['docker-host'] !== undefined && values['docker-socket'] !== undefined) {
      throw new KxError(ErrorCode.InvalidConfig, '--docker-host and --docker-socket name the engine twice: pass one');
    }
    const host = values['docker-host'];
    if (host !== undefined && !/^tcp:\/\/[^/]+:\d+\/?$/.test(host)) throw new KxError(ErrorCode.InvalidConfig, `--docker-host ${JSON.stringify(host)}: expected tcp://HOST:PORT`);
    if (values['docker-tls-dir'] !== undefined && host === undefined) throw new KxError(ErrorCode.InvalidConfig, '--docker-tls-dir is for a tcp engine (--docker-host)');
    return {
      mode: 'docker',
      listen: values.listen,
      dockerSocket: values['docker-socket'] ?? DEFAULT_DOCKER_SOCKET,
      ...(host === undefined ? {} : { dockerHost: host }),
      ...(values['docker-tls-dir'] === undefined ? {} : { tlsDir: values['docker-tls-dir'] }),
      ...(values['token-file'] === undefined ? {} : { tokenFile: values['token-file'] }),
      restartGraceSeconds: graceOf(values['restart-grace']),
      fsync: values.fsync,
      idleExitSeconds: secondsOf('--idle-exit', values['idle-exit'] ?? '0'),
    };
  }
  const dockerOnly = (['docker-host', 'docker-tls-dir', 'idle-exit'] as const).find((f) => values[f] !== undefined);
  if (dockerOnly) throw new KxError(ErrorCode.InvalidConfig, `--${dockerOnly} is for --docker-target mode`);
  if (values.root !== undefined) {
    const nodeOnly = ['docker-socket', 'containerd-socket', 'containerd-namespace', 'kubeconfig', 'node-name', 'pod-namespace', 'pod-name', 'host-root', 'restart-grace'] as const;
    const stray = nodeOnly.find((f) => values[f] !== undefined);
    if (stray) throw new KxError(ErrorCode.InvalidConfig, `--${stray} is for node mode; it cannot be combined with --root`);
    if (values.root === '') throw new KxError(ErrorCode.InvalidConfig, '--root: empty path');
    return {
      mode: 'root',
      listen: values.listen,
      root: values.root,
      ...(values['token-file'] === undefined ? {} : { tokenFile: values['token-file'] }),
      fsync: values.fsync,
    };
  }
  if (values['token-file'] !== undefined) throw new KxError(ErrorCode.InvalidConfig, '--token-file is for --root and --docker-target modes; node mode checks the kx-token Secret of each namespace');
  const graceSeconds = graceOf(values['restart-grace']);
  const nodeName = values['node-name'] ?? env.KX_NODE_NAME;
  const podNamespace = values['pod-namespace'] ?? env.KX_POD_NAMESPACE;
  const podName = values['pod-name'] ?? env.KX_POD_NAME;
  const hostRoot = values['host-root'] ?? env.KX_HOST_ROOT ?? '';
  if (hostRoot !== '' && !hostRoot.startsWith('/')) throw new KxError(ErrorCode.InvalidConfig, `--host-root ${JSON.stringify(hostRoot)}: expected an absolute path`);
  return {
    mode: 'node',
    listen: values.listen,
    dockerSocket: values['docker-socket'] ?? env.KX_DOCKER_SOCKET ?? AUTO_SOCKET,
    containerdSocket: values['containerd-socket'] ?? env.KX_CONTAINERD_SOCKET ?? AUTO_SOCKET,
    hostRoot,
    containerdNamespace: values['containerd-namespace'] || env.KX_CONTAINERD_NAMESPACE || KUBERNETES_NAMESPACE,
    ...(values.kubeconfig === undefined ? {} : { kubeconfig: values.kubeconfig }),
    ...(nodeName ? { nodeName } : {}),
    ...(podNamespace ? { podNamespace } : {}),
    ...(podName ? { podName } : {}),
    restartGraceSeconds: graceSeconds,
    fsync: values.fsync,
  };
}

function graceOf(flag: string | undefined): number {
  return secondsOf('--restart-grace', flag ?? String(DEFAULT_RESTART_GRACE_SECONDS));
}

function secondsOf(flag: string, text: string): number {
  const seconds = Number(text);
  if (text.trim() === '' || !Number.isInteger(seconds) || seconds < 0) {
    throw new KxError(ErrorCode.InvalidConfig, `${flag} ${JSON.stringify(text)}: expected whole seconds ≥ 0`);
  }
  return seconds;
}
