// The design card's dependency directions, held by a test: cmd → pkg → proto ← radar, with the pure engine
// (pkg/sync) the only part of pkg that radar may share.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const repo = resolve(import.meta.dirname, '..');

interface Import { from: string; spec: string; target?: string }

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
  const specs = [...text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^'";]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g)]
    .map((m) => m[1] ?? m[2] ?? '');
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

describe('architecture', () => {
  it('keeps the engine in pkg/sync pure: Node built-ins, xxhash-wasm and ignore only', () => {
    const bad = importsUnder('pkg/sync').filter(
      (i) => !(i.spec.startsWith('node:') || i.spec === 'xxhash-wasm' || i.spec === 'ignore' || within(i.target, 'pkg/sync')),
    );
    expect(bad).toEqual([]);
  });

  it('never lets pkg depend on cmd or radar', () => {
    const bad = importsUnder('pkg').filter((i) => within(i.target, 'cmd') || within(i.target, 'radar'));
    expect(bad).toEqual([]);
  });

  it('lets radar share only proto and the sync engine with the local side', () => {
    const bad = importsUnder('radar').filter(
      (i) => i.target !== undefined && !within(i.target, 'radar') && !within(i.target, 'proto') && !within(i.target, 'pkg/sync'),
    );
    expect(bad).toEqual([]);
  });

  it('keeps the wire contract in proto free of everything but the engine types and errors', () => {
    const bad = importsUnder('proto').filter(
      (i) => i.target !== undefined && !within(i.target, 'proto') && !['pkg/sync/types.ts', 'pkg/sync/errors.ts'].includes(i.target),
    );
    expect(bad).toEqual([]);
  });

  it('has no module-level mutable state (no top-level let or var) in cmd, pkg, radar or proto', () => {
    const offenders = ['cmd', 'pkg', 'radar', 'proto']
      .flatMap(sources)
      .filter((f) => /^(?:export\s+)?(?:let|var)\s/m.test(readFileSync(f, 'utf8')))
      .map((f) => relative(repo, f));
    expect(offenders).toEqual([]);
  });
});
