import { mkdtemp, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../pkg/config/parse.ts';
import { CONFIG_FILE, configErrorOf } from '../support/config-error.ts';
import { ConfigStore } from '../../pkg/config/store.ts';
import { buildSpec, generateName } from '../../pkg/config/new-spec.ts';
import { configFilePath } from '../../pkg/config/location.ts';
import { matchesSelector, parseSelector } from '../../pkg/config/selector.ts';
import type { SpecConfig } from '../../pkg/config/types.ts';


describe('config validation', () => {
  it('names file, line and field for a wrong type', () => {
    const text = 'statusPort: 7000\nspecs:\n  - name: api\n    selector: app=api\n    local: /src\n    remote: 5\n';
    expect(configErrorOf(text)).toBe(`${CONFIG_FILE}:6: specs[0].remote: must be string`);
  });

  it('reads keepSetIdBits, and names the field when it is not a boolean', () => {
    const spec = (extra: string): string => `specs:\n  - name: api\n    pod: p\n    local: /src\n    remote: /app\n${extra}`;
    expect(parseConfig(spec('    keepSetIdBits: true\n'), CONFIG_FILE).config.specs[0]?.keepSetIdBits).toBe(true);
    expect(configErrorOf(spec('    keepSetIdBits: yes please\n'))).toBe(`${CONFIG_FILE}:6: specs[0].keepSetIdBits: must be boolean`);
  });

  it('names the line of an unknown field', () => {
    const text = 'specs:\n  - name: api\n    pod: p\n    local: /src\n    remote: /app\n    colour: red\n';
    expect(configErrorOf(text)).toBe(`${CONFIG_FILE}:6: specs[0].colour: unknown field`);
  });

  it('names a missing required field at its spec', () => {
    const text = '# mine\nspecs:\n  - name: api\n    pod: p\n    local: /src\n';
    expect(configErrorOf(text)).toBe(`${CONFIG_FILE}:3: specs[0]: missing required field 'remote'`);
  });

  it('rejects a relative remote path with a hint', () => {
    const text = 'specs:\n  - name: api\n    pod: p\n    local: /src\n    remote: app\n';
    expect(configErrorOf(text)).toBe(`${CONFIG_FILE}:5: specs[0].remote: must be an absolute path`);
  });

  it('rejects a bad reload mode', () => {
    const text = 'specs:\n  - name: api\n    pod: p\n    local: /src\n    remote: /app\n    reload: bounce\n';
    expect(configErrorOf(text)).toMatch(/^\/home\/u\/\.kx\/kx\.yaml:6: specs\[0\]\.reload: must be none, restart or signal:NAME/);
  });

  it('rejects duplicate spec names at the second one', () => {
    const spec = (n: number) => `  - name: api\n    pod: p${n}\n    local: /src\n    remote: /app\n`;
    expect(configErrorOf(`specs:\n${spec(1)}${spec(2)}`)).toBe(`${CONFIG_FILE}:6: specs[1].name: duplicate spec name 'api'`);
  });

  it('rejects bad selector syntax', () => {
    const text = 'specs:\n  - name: api\n    selector: "app in (a"\n    local: /src\n    remote: /app\n';
    expect(configErrorOf(text)).toMatch(/^\/home\/u\/\.kx\/kx\.yaml:3: specs\[0\]\.selector: selector 'app in \(a'/);
  });

  it('reports YAML syntax errors with their line', () => {
    expect(configErrorOf('logLevel: info\nspecs: [\n  - a\n')).toMatch(/^\/home\/u\/\.kx\/kx\.yaml:\d+: /);
  });

  it('fills defaults and resolves a relative local path against the config directory', () => {
    const { config } = parseConfig('specs:\n  - name: api\n    pod: p\n    local: src\n    remote: /app\n', CONFIG_FILE);
    expect(config.settings).toEqual({ statusPort: 7341, logLevel: 'info', safety: { maxDeleteShare: 0.5, maxDeleteFiles: 100 } });
    expect(config.specs[0]).toMatchObject({ local: '/home/u/.kx/src', reload: 'none', ignore: [], target: 'kubernetes' });
  });

  it('reads where radar is installed, and names the field when it is not a namespace name', () => {
    expect(parseConfig('radarNamespace: dev-tools\n', CONFIG_FILE).config.settings.radarNamespace).toBe('dev-tools');
    expect(configErrorOf('logLevel: info\nradarNamespace: Dev_Tools\n')).toMatch(/^\/home\/u\/\.kx\/kx\.yaml:2: radarNamespace: /);
  });

  it('treats an empty file as an empty config', () => {
    expect(parseConfig('', CONFIG_FILE).config.specs).toEqual([]);
  });
});

describe('config location', () => {
  it('prefers --config, then KX_HOME, then ~/.kx', () => {
    expect(configFilePath({ flag: '/x/c.yaml', env: { KX_HOME: '/h' } })).toBe('/x/c.yaml');
    expect(configFilePath({ env: { KX_HOME: '/h' } })).toBe('/h/kx.yaml');
    expect(configFilePath({ env: {} })).toMatch(/\/\.kx\/kx\.yaml$/);
  });
});

describe('config store', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kx-config-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  // Each spec its own container: two specs into /app of the same one would be refused as overlapping.
  const spec = (name: string): SpecConfig => ({ name, pod: `p-${name}`, local: '/src', remote: '/app', reload: 'none', ignore: [], target: 'docker' });

  it('keeps the user comments and order when adding and removing specs', async () => {
    const file = join(dir, 'kx.yaml');
    const original = '# my settings\nlogLevel: debug # chatty\nstatusPort: 7400\nspecs:\n  # the api\n  - name: api\n    pod: p\n    local: /src\n    remote: /app\n';
    await writeFile(file, original);
    const store = new ConfigStore(file);
    await store.addSpec(spec('web'));
    const added = await readFile(file, 'utf8');
    expect(added.startsWith(original)).toBe(true);
    expect(added).toContain('- name: web');
    await store.removeSpecs(['web']);
    expect(await readFile(file, 'utf8')).toBe(original);
  });

  it('creates the file and its directory on first write', async () => {
    const store = new ConfigStore(join(dir, 'nested', 'kx.yaml'));
    await store.addSpec(spec('api'));
    expect((await store.load()).config.specs.map((s) => s.name)).toEqual(['api']);
  });

  it('refuses a duplicate name unless replacing, and replaces in place', async () => {
    const store = new ConfigStore(join(dir, 'kx.yaml'));
    await store.addSpec(spec('api'));
    await store.addSpec(spec('web'));
    await expect(store.addSpec(spec('api'))).rejects.toThrow(/already exists/);
    await store.addSpec({ ...spec('api'), remote: '/srv' }, { replace: true });
    const { specs } = (await store.load()).config;
    expect(specs.map((s) => `${s.name}:${s.remote}`)).toEqual(['api:/srv', 'web:/app']);
  });

  it('names unknown specs on delete and leaves the file alone', async () => {
    const store = new ConfigStore(join(dir, 'kx.yaml'));
    await store.addSpec(spec('api'));
    await expect(store.removeSpecs(['nope'])).rejects.toThrow(/no spec named 'nope'/);
    expect((await store.load()).config.specs).toHaveLength(1);
  });

  it('leaves no temp files behind', async () => {
    const store = new ConfigStore(join(dir, 'kx.yaml'));
    await store.addSpec(spec('api'));
    const { readdir } = await import('node:fs/promises');
    expect(await readdir(dir)).toEqual(['kx.yaml']);
  });
});

describe('new spec checks', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kx-spec-'));
    await mkdir(join(dir, 'src'));
    await writeFile(join(dir, 'file'), 'x');
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  const base = { target: 'docker' as const, selector: 'app=api', remote: '/app' };

  it('requires the local directory to exist', async () => {
    await expect(buildSpec({ ...base, local: 'missing' }, [], dir)).rejects.toThrow(/LOCAL .*missing: no such directory/);
    await expect(buildSpec({ ...base, local: 'file' }, [], dir)).rejects.toThrow(/not a directory/);
  });

  it('requires an absolute remote path', async () => {
    await expect(buildSpec({ ...base, local: 'src', remote: 'app' }, [], dir)).rejects.toThrow(/REMOTE app: must be an absolute path/);
  });

  it('checks the selector syntax', async () => {
    await expect(buildSpec({ ...base, local: 'src', selector: 'app in (x' }, [], dir)).rejects.toThrow(/selector 'app in \(x'/);
  });

  it('refuses a taken name', async () => {
    const existing = [await buildSpec({ ...base, local: 'src', name: 'api' }, [], dir)];
    await expect(buildSpec({ ...base, local: 'src', name: 'api' }, existing, dir)).rejects.toThrow(/--name api: a spec of that name exists/);
  });

  it('generates a readable unique name', async () => {
    const first = await buildSpec({ ...base, local: 'src' }, [], dir);
    // Another remote path: the same one in the same containers would be refused as overlapping.
    const second = await buildSpec({ ...base, local: 'src', remote: '/srv' }, [first], dir);
    expect([first.name, second.name]).toEqual(['api-src', 'api-src-2']);
    expect(generateName('/x/My Project', '/app', 'my-pod', new Set())).toBe('my-pod-my-project');
  });
});

describe('label selectors', () => {
  it('matches equality and set requirements', () => {
    const sel = parseSelector('app=api,tier!=db,env in (dev, test),canary,!legacy');
    expect(matchesSelector(sel, { app: 'api', env: 'dev', canary: '' })).toBe(true);
    expect(matchesSelector(sel, { app: 'api', env: 'prod', canary: '' })).toBe(false);
    expect(matchesSelector(sel, { app: 'api', env: 'dev', canary: '', legacy: '1' })).toBe(false);
  });

  it('rejects malformed selectors', () => {
    expect(() => parseSelector('app==')).not.toThrow();
    expect(() => parseSelector('a b')).toThrow(/invalid label key/);
    expect(() => parseSelector(',')).toThrow();
  });
});

describe('generated names', () => {
  it('uses the selector value, else the key, then the folder', () => {
    expect(generateName('/w/src', '/app', 'app=api', new Set())).toBe('api-src');
    expect(generateName('/w/site', '/app', 'kx.demo=1', new Set())).toBe('demo-site');
    expect(generateName('/w/site', '/app', 'tier in (web)', new Set())).toBe('tier-site');
  });
});
