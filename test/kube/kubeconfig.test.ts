// kubeconfig resolution as kubectl does it: --kubeconfig, KUBECONFIG merged first-wins, ~/.kube/config, in-cluster.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadKubeconfig } from '../../pkg/kube/kubeconfig.ts';
import { isKxError } from '../../pkg/sync/errors.ts';

let dir: string;
beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'kx-test-kubeconfig-')); });
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function kubeconfig(file: string, opts: { current?: string; contexts: { name: string; cluster: string; namespace?: string; server?: string }[] }): string {
  const path = join(dir, file);
  const lines = ['apiVersion: v1', 'kind: Config', `current-context: ${opts.current ?? '""'}`, 'clusters:'];
  for (const c of opts.contexts) lines.push(`- name: ${c.cluster}`, '  cluster:', `    server: ${c.server ?? `https://${c.cluster}.example:6443`}`);
  lines.push('users:');
  for (const c of opts.contexts) lines.push(`- name: ${c.name}-user`, '  user:', '    token: t');
  lines.push('contexts:');
  for (const c of opts.contexts) {
    lines.push(`- name: ${c.name}`, '  context:', `    cluster: ${c.cluster}`, `    user: ${c.name}-user`);
    if (c.namespace) lines.push(`    namespace: ${c.namespace}`);
  }
  writeFileSync(path, lines.join('\n') + '\n');
  return path;
}

function failure(fn: () => unknown): Error {
  try { fn(); } catch (err) { return err as Error; }
  throw new Error('expected a failure');
}

describe('loadKubeconfig', () => {
  it('uses ~/.kube/config and its current-context when KUBECONFIG is unset', () => {
    mkdirSync(join(dir, '.kube'));
    kubeconfig('.kube/config', { current: 'dev', contexts: [{ name: 'dev', cluster: 'c1', namespace: 'web' }] });
    const k = loadKubeconfig({ env: {}, homeDir: dir });
    expect(k.context).toBe('dev');
    expect(k.namespace).toBe('web');
    expect(k.kc.getCurrentCluster()?.server).toBe('https://c1.example:6443');
  });

  it('merges KUBECONFIG files first-wins, taking current-context from the first file that sets one', () => {
    const a = kubeconfig('a', { contexts: [{ name: 'shared', cluster: 'from-a' }] });
    const b = kubeconfig('b', { current: 'other', contexts: [{ name: 'shared', cluster: 'from-b' }, { name: 'other', cluster: 'c2' }] });
    const k = loadKubeconfig({ env: { KUBECONFIG: `${a}:${join(dir, 'missing')}:${b}` } });
    expect(k.context).toBe('other');
    expect(k.kc.getContextObject('shared')?.cluster).toBe('from-a');
  });

  it('lets --context override the current-context and defaults the namespace to "default"', () => {
    const a = kubeconfig('a', { current: 'one', contexts: [{ name: 'one', cluster: 'c1', namespace: 'ns1' }, { name: 'two', cluster: 'c2' }] });
    const k = loadKubeconfig({ env: { KUBECONFIG: a }, context: 'two' });
    expect(k.kc.getCurrentContext()).toBe('two');
    expect(k.kc.getCurrentCluster()?.name).toBe('c2');
    expect(k.namespace).toBe('default');
  });

  it('names a wrong context and lists the available ones', () => {
    const a = kubeconfig('a', { current: 'one', contexts: [{ name: 'one', cluster: 'c1' }, { name: 'two', cluster: 'c2' }] });
    const err = failure(() => loadKubeconfig({ env: { KUBECONFIG: a }, context: 'prod' }));
    expect(isKxError(err, 'INVALID_CONFIG')).toBe(true);
    expect(err.message).toBe(`context "prod" not found in kubeconfig ${a} (available: one, two)`);
  });

  it('asks for --context when the kubeconfig sets no current-context', () => {
    const a = kubeconfig('a', { contexts: [{ name: 'one', cluster: 'c1' }] });
    expect(failure(() => loadKubeconfig({ env: { KUBECONFIG: a } })).message).toMatch(/sets no current-context; pass --context \(available: one\)/);
  });

  it('reads only the --kubeconfig file and names it when it is missing', () => {
    const missing = join(dir, 'nope.yaml');
    expect(failure(() => loadKubeconfig({ env: {}, kubeconfig: missing })).message).toBe(`kubeconfig ${missing}: no such file`);
  });

  it('names the file when it does not parse as a kubeconfig', () => {
    const bad = join(dir, 'bad');
    writeFileSync(bad, 'clusters:\n- cluster: {server: x}\n');
    const err = failure(() => loadKubeconfig({ env: { KUBECONFIG: bad } }));
    expect(err.message).toMatch(new RegExp(`^kubeconfig ${bad}: clusters\\[0\\]\\.name is missing`));
    expect(err.message).not.toContain('\n');
  });

  it('falls back to the in-cluster service account, with its namespace', () => {
    const sa = join(dir, 'root', 'var/run/secrets/kubernetes.io/serviceaccount');
    mkdirSync(sa, { recursive: true });
    writeFileSync(join(sa, 'token'), 'tok');
    writeFileSync(join(sa, 'namespace'), 'team-a');
    const k = loadKubeconfig({ env: { KUBERNETES_SERVICE_HOST: '10.0.0.1', KUBERNETES_SERVICE_PORT: '443' }, homeDir: dir, inClusterPathPrefix: join(dir, 'root') });
    expect(k.source).toBe('in-cluster');
    expect(k.namespace).toBe('team-a');
    expect(k.kc.getCurrentCluster()?.server).toBe('https://10.0.0.1:443');
  });

  it('says where it looked when there is no kubeconfig and no cluster', () => {
    expect(failure(() => loadKubeconfig({ env: {}, homeDir: dir })).message)
      .toBe(`no kubeconfig found (${join(dir, '.kube', 'config')} does not exist and kx is not running in a cluster)`);
  });
});
