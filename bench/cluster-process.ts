// The test API server (test/k8s) in a process of its own, driven over IPC by the benchmark: port-forwarded bytes
// then cross a server that does not share the benchmark's event loop or its 1 ms marker polls, as a real API
// server would not. Started by ClusterProcess (cluster.ts) with the server's options as JSON in argv[2].
import { startFakeApiServer, type FakeCluster, type FakeClusterOptions } from '../test/k8s/fake-cluster.ts';

/** What the benchmark may ask of the cluster. */
export const CLUSTER_METHODS = ['kubeconfigYaml', 'createPod', 'waitForRunning', 'listPods', 'containerId', 'deletePod'] as const;
export type ClusterMethod = (typeof CLUSTER_METHODS)[number];

export interface ClusterRequest {
  readonly id: number;
  readonly method: ClusterMethod | 'close';
  readonly args: unknown[];
}

export type ClusterReply = { readonly id: number; readonly result?: unknown; readonly error?: string } | { readonly ready: true };

async function serve(): Promise<void> {
  const cluster: FakeCluster = await startFakeApiServer(JSON.parse(process.argv[2] ?? '{}') as FakeClusterOptions);
  const send = (m: ClusterReply): void => void process.send?.(m);
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => (closing ??= cluster.close());
  process.on('message', (m: ClusterRequest) => {
    void (async () => {
      try {
        if (m.method === 'close') {
          await close();
          send({ id: m.id, result: null });
          process.disconnect();
          return;
        }
        if (!CLUSTER_METHODS.includes(m.method)) throw new Error(`unknown method ${String(m.method)}`);
        const call = (cluster as unknown as Record<ClusterMethod, (...a: unknown[]) => unknown>)[m.method].bind(cluster);
        send({ id: m.id, result: (await call(...m.args)) ?? null });
      } catch (err) {
        send({ id: m.id, error: (err as Error).message });
      }
    })();
  });
  // The benchmark went away without closing: remove the pods' containers anyway.
  process.on('disconnect', () => void close().finally(() => process.exit(0)));
  process.on('SIGTERM', () => void close().finally(() => process.exit(0)));
  send({ ready: true });
}

if (import.meta.main) await serve();
