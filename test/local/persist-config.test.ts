// persist and persistClaim in kx.yaml and on kx create's command line: accepted as documented, refused in one
// line naming the field or flag (the Docker target included), and written back to kx.yaml as given.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../pkg/config/parse.ts';
import { CONFIG_FILE, configErrorOf } from '../support/config-error.ts';
import { kx, randomPort, removeDir, tempDir } from './helpers.ts';

const spec = (extra: string): string => `specs:\n  - name: api\n    selector: app=api\n    local: /src\n    remote: /app\n${extra}`;

describe('persist in kx.yaml', () => {
  it('reads true, session and false, with a claim', () => {
    expect(parseConfig(spec('    persist: true\n'), CONFIG_FILE).config.specs[0]?.persist).toBe(true);
    expect(parseConfig(spec('    persist: session\n    persistClaim: code-pvc\n'), CONFIG_FILE).config.specs[0]).toMatchObject({ persist: 'session', persistClaim: 'code-pvc' });
    expect(parseConfig(spec('    persist: false\n'), CONFIG_FILE).config.specs[0]?.persist).toBe(false);
  });

  it('names the field of a wrong value, a claim without persist, a bad claim name, and persist on the docker target', () => {
    expect(configErrorOf(spec('    persist: always\n'))).toBe(`${CONFIG_FILE}:6: specs[0].persist: must be one of true, false, session`);
    expect(configErrorOf(spec('    persistClaim: code\n'))).toBe(`${CONFIG_FILE}:6: specs[0].persistClaim: needs persist: true or persist: session`);
    expect(configErrorOf(spec('    persist: true\n    persistClaim: Code_PVC\n'))).toBe(`${CONFIG_FILE}:7: specs[0].persistClaim: must be a PersistentVolumeClaim name (lowercase letters, digits, dashes and dots)`);
    expect(configErrorOf(spec('    target: docker\n    persist: true\n'))).toBe(`${CONFIG_FILE}:7: specs[0].persist: is for Kubernetes workloads; on the docker target give the container a volume at the remote path (docker run -v)`);
  });
});

describe('kx create --persist', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const d of dirs) await removeDir(d);
  });
  async function home(): Promise<{ dir: string; env: Record<string, string> }> {
    const dir = await tempDir('persist-config');
    dirs.push(dir);
    await mkdir(join(dir, 'src'));
    await writeFile(join(dir, 'kx.yaml'), `statusPort: ${randomPort()}\n`);
    return { dir, env: { KX_HOME: dir } };
  }

  it('--persist (before the positionals, as a bare flag), --persist=session and --persist-claim are written to kx.yaml', async () => {
    const { dir, env } = await home();
    const a = await kx(['create', '--persist', '-l', 'app=a', '--name', 'a', join(dir, 'src'), '/a'], env);
    expect(a.stderr).toBe('');
    expect(a.stdout).toMatch(/^spec a created: .*\/src → \/a \(kubernetes, persisted\)/);
    expect((await kx(['create', '--persist=session', '--persist-claim', 'code', '-l', 'app=b', '--name', 'b', join(dir, 'src'), '/b'], env)).code).toBe(0);
    const { config } = parseConfig(await readFile(join(dir, 'kx.yaml'), 'utf8'), join(dir, 'kx.yaml'));
    expect(config.specs.map((s) => [s.name, s.persist, s.persistClaim])).toEqual([['a', true, undefined], ['b', 'session', 'code']]);
  });

  it('refuses --persist on the docker target, an unknown --persist value and a claim without --persist, in one line, writing nothing', async () => {
    const { dir, env } = await home();
    const before = await readFile(join(dir, 'kx.yaml'), 'utf8');
    const cases: [string[], string][] = [
      [['--docker', '--persist'], 'kx: --persist is for Kubernetes workloads; on the docker target give the container a volume at the remote path (docker run -v)\n'],
      [['--persist=always'], 'kx: --persist=always: must be --persist or --persist=session\n'],
      [['--persist-claim', 'code'], 'kx: --persist-claim code: needs --persist\n'],
    ];
    for (const [flags, stderr] of cases) {
      const out = await kx(['create', ...flags, '-l', 'app=x', join(dir, 'src'), '/x'], env);
      expect([out.code, out.stderr]).toEqual([1, stderr]);
    }
    expect(await readFile(join(dir, 'kx.yaml'), 'utf8')).toBe(before);
  });
});
