// onSync in kx.yaml and `kx create --on-sync`: what is accepted, the one-line error naming the field otherwise,
// and which commands a batch's changed paths trigger.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commandsFor, splitCommand } from '../../pkg/config/on-sync.ts';
import { buildSpec } from '../../pkg/config/new-spec.ts';
import { parseConfig } from '../../pkg/config/parse.ts';
import { CONFIG_FILE, configErrorOf } from '../support/config-error.ts';
import { ConfigStore } from '../../pkg/config/store.ts';

const spec = (onSync: string): string => `specs:\n  - name: api\n    pod: p\n    local: /src\n    remote: /app\n    onSync:\n${onSync}`;

describe('onSync in kx.yaml', () => {
  it('reads commands with when, run and workdir', () => {
    const text = spec('      - when: ["package.json", "package-lock.json"]\n        run: [npm, ci]\n      - run: [make, assets]\n        workdir: /app/web\n        via: radar\n');
    expect(parseConfig(text, CONFIG_FILE).config.specs[0]?.onSync).toEqual([
      { when: ['package.json', 'package-lock.json'], run: ['npm', 'ci'] },
      { run: ['make', 'assets'], workdir: '/app/web', via: 'radar' },
    ]);
  });

  it.each([
    ['      - run: [npm, ci]\n      - run: []\n', 8, 'specs[0].onSync[1].run: must be a non-empty list of strings'],
    ['      - run: npm ci\n', 7, 'specs[0].onSync[0].run: must be a non-empty list of strings'],
    ['      - when: []\n        run: [make]\n', 7, 'specs[0].onSync[0].when: must be a non-empty list of path patterns (gitignore syntax)'],
    ['      - run: [make]\n        workdir: app\n', 8, 'specs[0].onSync[0].workdir: must be an absolute path in the container'],
    ['      - run: [make]\n        via: ssh\n', 8, 'specs[0].onSync[0].via: must be radar (commands run through the container runtime)'],
    ['      - run: [make]\n        shell: true\n', 8, 'specs[0].onSync[0].shell: unknown field (one of when, run, workdir, via)'],
    ['      - make\n', 7, 'specs[0].onSync[0]: must be a map with run: [command, args...]'],
  ])('refuses %j with one line naming the field', (entries, line, message) => {
    expect(configErrorOf(spec(entries))).toBe(`${CONFIG_FILE}:${line}: ${message}`);
  });
});

describe('which commands a batch triggers', () => {
  const commands = [{ when: ['package.json', 'package-lock.json'], run: ['npm', 'ci'] }, { when: ['*.css', 'assets/'], run: ['make', 'assets'] }, { run: ['touch', '/tmp/always'] }];

  it('matches changed paths gitignore-style; a command without when runs for every batch', () => {
    expect(commandsFor(commands, ['src/main.ts']).map((c) => c.run[0])).toEqual(['touch']);
    expect(commandsFor(commands, ['src/main.ts', 'package.json']).map((c) => c.run[0])).toEqual(['npm', 'touch']);
    expect(commandsFor(commands, ['web/site.css']).map((c) => c.run[0])).toEqual(['make', 'touch']);
    expect(commandsFor(commands, ['assets/logo.svg']).map((c) => c.run[0])).toEqual(['make', 'touch']);
    expect(commandsFor(commands, ['packages/a/package.json']).map((c) => c.run[0])).toEqual(['npm', 'touch']);
  });
});

describe('kx create --on-sync', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kx-onsync-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('splits a command line into argv without a shell: spaces separate, quotes group', () => {
    expect(splitCommand('npm ci')).toEqual(['npm', 'ci']);
    expect(splitCommand(`sh -c "npm run build && echo 'done'"`)).toEqual(['sh', '-c', "npm run build && echo 'done'"]);
    expect(splitCommand(`echo '' x`)).toEqual(['echo', '', 'x']);
    expect(() => splitCommand('sh -c "oops')).toThrow('unclosed " quote');
  });

  it('adds each --on-sync as a command run after every batch, and names the flag when one is broken', async () => {
    const made = await buildSpec({ target: 'docker', pod: 'web', local: dir, remote: '/app', onSync: ['npm ci', 'make assets'] }, [], '/');
    expect(made.onSync).toEqual([{ run: ['npm', 'ci'] }, { run: ['make', 'assets'] }]);
    // Written to kx.yaml and read back as it was made.
    const store = new ConfigStore(join(dir, 'kx.yaml'));
    await store.addSpec({ ...made, onSync: [...made.onSync!, { when: ['package.json'], run: ['npm', 'ci'], workdir: '/app/web' }] });
    expect((await store.load()).config.specs[0]?.onSync).toEqual([{ run: ['npm', 'ci'] }, { run: ['make', 'assets'] }, { when: ['package.json'], run: ['npm', 'ci'], workdir: '/app/web' }]);
    await expect(buildSpec({ target: 'docker', pod: 'web', local: dir, remote: '/app', onSync: ['sh -c "x'] }, [], '/')).rejects.toThrow('--on-sync sh -c "x: unclosed " quote');
  });
});
