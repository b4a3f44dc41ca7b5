// Test helpers: a seeded PRNG, random trees and their mutations, and a byte-exact comparison of two trees.
import { lstat, mkdir, readFile, readdir, readlink, rename, rm, symlink, writeFile, chmod, utimes } from 'node:fs/promises';
import { dirname, join } from 'node:path';

export interface Rng {
  next(): number;
  int(lo: number, hi: number): number;
  pick<T>(xs: readonly T[]): T;
  bytes(n: number): Uint8Array;
  chance(p: number): boolean;
}

/** mulberry32: tiny, seedable, good enough to shape test trees. */
export function rng(seed: number): Rng {
  let a = seed >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (lo: number, hi: number): number => lo + Math.floor(next() * (hi - lo + 1));
  return {
    next,
    int,
    pick: (xs) => xs[int(0, xs.length - 1)],
    chance: (p) => next() < p,
    // Half text-like (compressible), half noise.
    bytes: (n) => {
      const out = new Uint8Array(n);
      if (next() < 0.5) for (let i = 0; i < n; i++) out[i] = 97 + ((i * 7 + int(0, 3)) % 26);
      else for (let i = 0; i < n; i++) out[i] = int(0, 255);
      return out;
    },
  };
}

export interface Node { kind: 'file' | 'dir' | 'symlink'; mode: number; data?: string; target?: string; mtimeMs?: number }

/** Every entry beneath root: kind, permission bits, content (base64) or link text, file mtime. */
export async function snapshot(root: string): Promise<Map<string, Node>> {
  const out = new Map<string, Node>();
  const walk = async (rel: string): Promise<void> => {
    for (const name of (await readdir(join(root, rel))).sort()) {
      const p = rel ? `${rel}/${name}` : name;
      const abs = join(root, p);
      const st = await lstat(abs);
      if (st.isSymbolicLink()) out.set(p, { kind: 'symlink', mode: 0o777, target: await readlink(abs) });
      else if (st.isDirectory()) {
        out.set(p, { kind: 'dir', mode: st.mode & 0o7777 });
        await walk(p);
      } else out.set(p, { kind: 'file', mode: st.mode & 0o7777, data: (await readFile(abs)).toString('base64'), mtimeMs: Math.trunc(st.mtimeMs) });
    }
  };
  await walk('');
  return out;
}

const NAMES = ['a', 'b', 'src', 'lib', 'x.txt', 'y.bin', 'README', 'z z', 'ü', 'deep', 'n1', 'n2', '.hidden'];
const FILE_MODES = [0o644, 0o600, 0o755, 0o640];
const DIR_MODES = [0o755, 0o700, 0o775];

export class RandomTree {
  readonly root: string;
  readonly #r: Rng;
  #serial = 0;

  constructor(root: string, r: Rng) {
    this.root = root;
    this.#r = r;
  }

  async build(entries: number): Promise<void> {
    await mkdir(this.root, { recursive: true });
    for (let i = 0; i < entries; i++) await this.#create(await this.#freshPath());
  }

  /** One random mutation; returns the paths it touched (for syncPaths). */
  async mutate(): Promise<string[]> {
    const all = [...(await snapshot(this.root)).entries()];
    const files = all.filter(([, n]) => n.kind === 'file').map(([p]) => p);
    const dirs = all.filter(([, n]) => n.kind === 'dir').map(([p]) => p);
    const links = all.filter(([, n]) => n.kind === 'symlink').map(([p]) => p);
    const r = this.#r;
    const abs = (p: string): string => join(this.root, p);
    const kind = r.int(0, 11);
    if (files.length > 0 && kind <= 3) {
      const p = r.pick(files);
      const old = new Uint8Array(await readFile(abs(p)));
      const at = r.int(0, old.length);
      const piece = r.bytes(r.int(1, 300));
      const edited =
        kind === 0 ? concat(old.subarray(0, at), piece, old.subarray(Math.min(old.length, at + piece.length))) // overwrite
        : kind === 1 ? concat(old.subarray(0, at), piece, old.subarray(at)) // insert
        : kind === 2 ? old.subarray(0, at) // truncate
        : concat(piece, old); // insert at start
      await writeFile(abs(p), edited);
      return [p];
    }
    if (kind === 4 && files.length > 0) {
      const p = r.pick(files);
      await chmod(abs(p), r.pick(FILE_MODES));
      await utimes(abs(p), new Date(), new Date(1_600_000_000_000 + r.int(0, 1e9)));
      return [p];
    }
    if (kind === 5 && all.length > 0) {
      const [p] = r.pick(all);
      await rm(abs(p), { recursive: true, force: true });
      return [p];
    }
    if (kind === 6 && files.length > 0) {
      const from = r.pick(files);
      const to = await this.#freshPath();
      await rename(abs(from), abs(to));
      return [from, to];
    }
    if (kind === 7 && dirs.length > 0) {
      const p = r.pick(dirs);
      await chmod(abs(p), r.pick(DIR_MODES));
      return [p];
    }
    if (kind === 8 && links.length > 0) {
      const p = r.pick(links);
      await rm(abs(p));
      await symlink(this.#linkText(), abs(p));
      return [p];
    }
    if (kind === 9 && all.length > 0) {
      // Kind change: whatever is there becomes something else.
      const [p, n] = r.pick(all);
      await rm(abs(p), { recursive: true, force: true });
      if (n.kind === 'dir') await writeFile(abs(p), r.bytes(r.int(0, 2000)));
      else if (n.kind === 'file') await (r.chance(0.5) ? mkdir(abs(p)) : symlink(this.#linkText(), abs(p)));
      else await mkdir(abs(p));
      return [p];
    }
    if (kind === 10 && files.length > 0) {
      // Copy: same content at a new path (the receiver can copy instead of receiving it).
      const from = r.pick(files);
      const to = await this.#freshPath();
      await writeFile(abs(to), await readFile(abs(from)));
      return [to];
    }
    const p = await this.#freshPath();
    await this.#create(p);
    return [p];
  }

  async #create(p: string): Promise<void> {
    const r = this.#r;
    const abs = join(this.root, p);
    const what = r.int(0, 9);
    if (what <= 5) {
      const size = r.chance(0.1) ? r.int(40_000, 200_000) : r.pick([0, r.int(1, 100), r.int(100, 5000), r.int(5000, 30000)]);
      await writeFile(abs, r.bytes(size), { mode: r.pick(FILE_MODES) });
      await chmod(abs, r.pick(FILE_MODES));
    } else if (what <= 7) {
      await mkdir(abs, { mode: r.pick(DIR_MODES) });
      await chmod(abs, r.pick(DIR_MODES));
    } else {
      await symlink(this.#linkText(), abs);
    }
  }

  #linkText(): string {
    return this.#r.pick(['x.txt', '../a', '/nonexistent/abs', 'deep/../b', 'dangling', '.']);
  }

  /** A path that does not exist yet, beneath an existing directory. */
  async #freshPath(): Promise<string> {
    const dirs = [...(await snapshot(this.root)).entries()].filter(([, n]) => n.kind === 'dir').map(([p]) => p);
    const parent = this.#r.chance(0.3) || dirs.length === 0 ? '' : this.#r.pick(dirs);
    const name = `${this.#r.pick(NAMES)}-${this.#serial++}`;
    const p = parent ? `${parent}/${name}` : name;
    await mkdir(dirname(join(this.root, p)), { recursive: true });
    return p;
  }
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, x) => n + x.length, 0));
  let o = 0;
  for (const x of parts) {
    out.set(x, o);
    o += x.length;
  }
  return out;
}
