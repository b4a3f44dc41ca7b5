// The design card's dependency directions, held by a test: cmd → pkg → proto ← radar. radar shares with the local
// side only the wire contract and the parts of pkg both ends run (the engine, the receiver, the runtimes, the wire
// mapping); the engine in pkg/sync is pure. No import cycle between files or between folders.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { RADAR_SOURCE_DIRS } from '../proto/radar-pod.ts';

const repo = resolve(import.meta.dirname, '..');

interface Import { from: string; spec: string; target?: string }

/** The parts of pkg/ that radar runs too (and its image carries): they may use each other and proto, nothing else. */
const SHARED_WITH_RADAR: string[] = RADAR_SOURCE_DIRS.filter((d) => d.startsWith('pkg/'));
/** The typed error: a leaf every layer may use (its codes cross the wire). */
const ERROR_LEAF = 'pkg/sync/errors.ts';

function sources(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (name === 'node_modules') continue;
      if (statSync(p).isDirectory()) walk(p);
      else if (p.endsWith('.ts')) out.push(p);
    }
  };
  walk(join(repo, dir));
  return out;
}

function importsOf(file: string): Import[] {
  const text = readFileSync(file, 'utf8');
  const specs = [...text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^'";]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|(?:^|\n)\s*import\s+['"]([^'"]+)['"]/g)]
    .map((m) => m[1] ?? m[2] ?? m[3] ?? '');
  return specs.map((spec) => ({
    from: relative(repo, file),
    spec,
    target: spec.startsWith('.') ? relative(repo, resolve(dirname(file), spec)) : undefined,
  }));
}

function importsUnder(dir: string): Import[] {
  return sources(dir).flatMap(importsOf);
}

const within = (target: string | undefined, dir: string): boolean => !!target && (target === dir || target.startsWith(`${dir}/`));
const withinAny = (target: string | undefined, dirs: string[]): boolean => dirs.some((d) => within(target, d));
const local = (i: Import): boolean => i.target !== undefined;
const show = (i: Import): string => `${i.from} → ${i.target ?? i.spec}`;

/** Every cycle found by a depth-first search over `edges` (each reported once, from its smallest node). */
function cycles(edges: Map<string, Set<string>>): string[] {
  const found = new Set<string>();
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (n: string): void => {
    state.set(n, 'open');
    stack.push(n);
    for (const m of edges.get(n) ?? []) {
      if (state.get(m) === 'open') {
        const loop = stack.slice(stack.indexOf(m));
        const start = loop.indexOf([...loop].sort()[0]);
        found.add([...loop.slice(start), ...loop.slice(0, start), loop[start]].join(' → '));
      } else if (!state.has(m)) visit(m);
    }
    stack.pop();
    state.set(n, 'done');
  };
  for (const n of [...edges.keys()].sort()) if (!state.has(n)) visit(n);
  return [...found].sort();
}

const PRODUCT = ['cmd', 'pkg', 'proto', 'radar', 'bench'];

describe('architecture', () => {
  it('keeps the engine in pkg/sync pure: Node built-ins, xxhash-wasm and ignore only', () => {
    const bad = importsUnder('pkg/sync').filter(
      (i) => !(i.spec.startsWith('node:') || i.spec === 'xxhash-wasm' || i.spec === 'ignore' || within(i.target, 'pkg/sync')),
    );
    expect(bad.map(show)).toEqual([]);
  });

  it('keeps the typed error a leaf that imports nothing', () => {
    expect(importsOf(join(repo, ERROR_LEAF)).map(show)).toEqual([]);
  });

  it('lets cmd use pkg and proto, never radar, bench or test', () => {
    const bad = importsUnder('cmd').filter((i) => local(i) && !withinAny(i.target, ['cmd', 'pkg', 'proto', 'package.json']));
    expect(bad.map(show)).toEqual([]);
  });

  it('never lets pkg depend on cmd, radar, bench or test', () => {
    const bad = importsUnder('pkg').filter((i) => local(i) && !withinAny(i.target, ['pkg', 'proto', 'package.json']));
    expect(bad.map(show)).toEqual([]);
  });

  it('keeps the parts of pkg that radar runs free of the daemon, the CLI side and Kubernetes clients', () => {
    const bad = SHARED_WITH_RADAR.flatMap(importsUnder).filter(
      (i) => (local(i) && !withinAny(i.target, [...SHARED_WITH_RADAR, 'proto'])) || i.spec === '@kubernetes/client-node',
    );
    expect(bad.map(show)).toEqual([]);
  });

  it('lets radar share only proto and the shared parts of pkg with the local side', () => {
    const bad = importsUnder('radar').filter((i) => local(i) && !withinAny(i.target, ['radar', 'proto', ...SHARED_WITH_RADAR]));
    expect(bad.map(show)).toEqual([]);
  });

  it('keeps the wire contract in proto free of everything but itself and the error leaf', () => {
    const bad = importsUnder('proto').filter((i) => local(i) && !within(i.target, 'proto') && i.target !== ERROR_LEAF);
    expect(bad.map(show)).toEqual([]);
  });

  it('keeps bench on the product, never on the tests, except the test API server its cluster-path cases run on', () => {
    const bad = importsUnder('bench').filter((i) => local(i) && !withinAny(i.target, PRODUCT) && i.target !== 'test/k8s/fake-cluster.ts');
    expect(bad.map(show)).toEqual([]);
  });

  it('keeps build/ (bundling the package and the single executable) apart: it reads the product as files, imports none of it, and nothing imports it', () => {
    const out = importsUnder('build').filter((i) => local(i) && !within(i.target, 'build'));
    const inward = [...PRODUCT, 'test'].flatMap(importsUnder).filter((i) => within(i.target, 'build'));
    expect([...out, ...inward].map(show)).toEqual([]);
  });

  it('has no import cycle between files', () => {
    const edges = new Map<string, Set<string>>();
    for (const i of PRODUCT.flatMap(importsUnder)) {
      if (!i.target?.endsWith('.ts')) continue;
      (edges.get(i.from) ?? edges.set(i.from, new Set()).get(i.from)!).add(i.target);
    }
    expect(cycles(edges)).toEqual([]);
  });

  it('has no import cycle between folders', () => {
    const edges = new Map<string, Set<string>>();
    for (const i of PRODUCT.flatMap(importsUnder)) {
      if (!i.target?.endsWith('.ts')) continue;
      const [a, b] = [dirname(i.from), dirname(i.target)];
      if (a !== b) (edges.get(a) ?? edges.set(a, new Set()).get(a)!).add(b);
    }
    expect(cycles(edges)).toEqual([]);
  });

  it('finds a cycle when there is one (the check itself)', () => {
    const edges = new Map([['a', new Set(['b'])], ['b', new Set(['c'])], ['c', new Set(['a'])], ['d', new Set(['a'])]]);
    expect(cycles(edges)).toEqual(['a → b → c → a']);
  });

  it('has no module-level mutable state (no top-level let or var) in cmd, pkg, radar or proto', () => {
    const offenders = ['cmd', 'pkg', 'radar', 'proto']
      .flatMap(sources)
      .filter((f) => /^(?:export\s+)?(?:let|var)\s/m.test(readFileSync(f, 'utf8')))
      .map((f) => relative(repo, f));
    expect(offenders).toEqual([]);
  });
});
