// Deterministic benchmark trees: the same seed gives the same bytes on every run and machine.
import { closeSync, fstatSync, futimesSync, mkdirSync, openSync, writeFileSync, writeSync } from 'node:fs';
import { mkdir, open, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface TreeShape {
  smallFiles: number;
  smallMin: number;
  smallMax: number;
  binaries: number;
  binMin: number;
  binMax: number;
}

/** ~150 MB in 10,000 files: sources of 1–16 KB, and 25 binaries of 1–5 MB (the initial-sync scenario). */
export const SOURCE_TREE: TreeShape = { smallFiles: 9_975, smallMin: 1_024, smallMax: 16_384, binaries: 25, binMin: 1 << 20, binMax: 5 << 20 };

/** xorshift32: small, fast, seedable. */
export function prng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
}

const WORDS = 'const let return function import export from async await if else for while class interface type new this value result error path file data sync block delta stream buffer'.split(' ');

/** Source-like text: compressible, line structured, different per seed. */
export function sourceText(size: number, rand: () => number): Buffer {
  const parts: string[] = [];
  let len = 0;
  while (len < size) {
    const indent = '  '.repeat(rand() % 4);
    const n = 3 + (rand() % 8);
    const words: string[] = [];
    for (let i = 0; i < n; i++) words.push(WORDS[rand() % WORDS.length]);
    const line = `${indent}${words.join(' ')} ${rand().toString(36)};\n`;
    parts.push(line);
    len += line.length;
  }
  return Buffer.from(parts.join('')).subarray(0, size);
}

export function randomBytes(size: number, rand: () => number): Buffer {
  const buf = Buffer.allocUnsafe(size);
  for (let i = 0; i + 4 <= size; i += 4) buf.writeUInt32LE(rand(), i);
  for (let i = size - (size % 4); i < size; i++) buf[i] = rand() & 0xff;
  return buf;
}

/** Files spread over nested directories (about 50 files a directory), like a source tree. */
export function smallPath(i: number): string {
  return `src/m${Math.floor(i / 500)}/d${Math.floor(i / 50) % 10}/f${i}.ts`;
}

export async function writeTree(root: string, shape: TreeShape, seed: number): Promise<{ files: number; bytes: number }> {
  const rand = prng(seed);
  let bytes = 0;
  for (let i = 0; i < shape.smallFiles; i++) {
    const size = shape.smallMin + (rand() % (shape.smallMax - shape.smallMin));
    const p = join(root, smallPath(i));
    await mkdir(join(p, '..'), { recursive: true });
    await writeFile(p, sourceText(size, rand));
    bytes += size;
  }
  await mkdir(join(root, 'assets'), { recursive: true });
  for (let i = 0; i < shape.binaries; i++) {
    const size = shape.binMin + (rand() % (shape.binMax - shape.binMin));
    await writeFile(join(root, 'assets', `blob${i}.bin`), randomBytes(size, rand));
    bytes += size;
  }
  return { files: shape.smallFiles + shape.binaries, bytes };
}

/** Edit `count` small files in place: a changed line in the middle, so each file keeps most of its content. */
export async function editSmallFiles(root: string, shape: TreeShape, count: number, seed: number): Promise<void> {
  const rand = prng(seed);
  const step = Math.floor(shape.smallFiles / count);
  for (let k = 0; k < count; k++) {
    const p = join(root, smallPath(k * step));
    const fh = await open(p, 'r+');
    try {
      const { size } = await fh.stat();
      await fh.write(Buffer.from(`// edited ${rand().toString(36)}\n`), 0, undefined, Math.floor(size / 2));
      // Same size: make sure the mtime moves on too, or a quick check (rsync's) could skip the edit.
      const later = new Date(Date.now() + 5_000);
      await fh.utimes(later, later);
    } finally {
      await fh.close();
    }
  }
}

/** A large random file written in chunks, so the generator itself stays small in memory. */
export async function writeLargeFile(path: string, size: number, seed: number): Promise<void> {
  const rand = prng(seed);
  const fh = await open(path, 'w');
  try {
    const chunk = 4 << 20;
    for (let off = 0; off < size; off += chunk) await fh.write(randomBytes(Math.min(chunk, size - off), rand));
  } finally {
    await fh.close();
  }
}

export async function flipByte(path: string, offset: number): Promise<void> {
  const fh = await open(path, 'r+');
  try {
    const b = Buffer.alloc(1);
    await fh.read(b, 0, 1, offset);
    b[0] = b[0] ^ 0xff;
    await fh.write(b, 0, 1, offset);
  } finally {
    await fh.close();
  }
}

/** A smaller tree of the same kind for --quick: 1,000 files, ~20 MB. */
export const QUICK_TREE: TreeShape = { smallFiles: 995, smallMin: 1_024, smallMax: 16_384, binaries: 5, binMin: 1 << 20, binMax: 5 << 20 };

/** A file the benchmark changed, and text that is in it once the change has landed. */
export interface Marked {
  readonly rel: string;
  readonly marker: string;
}

/**
 * A `git checkout`: `count` files change at once, nine in ten of them existing sources edited in place (a line
 * changed in the middle, the mtime moved on), one in ten new files in a new directory `src/feature` (created with
 * at least `newFiles` files).
 */
export function burst(root: string, shape: TreeShape, count: number, seed: number, newFiles = Math.round(count / 10)): Promise<Marked[]> {
  const rand = prng(seed);
  const edits = count - newFiles;
  const step = Math.max(1, Math.floor(shape.smallFiles / edits));
  const out: Marked[] = [];
  const later = new Date(Date.now() + 5_000);
  // Written with synchronous calls, one file after another, as git writes a checkout's files: each call of the
  // promise API is a round trip through libuv's thread pool, which made the writes alone take 0.4-0.5 s (what kx's
  // and lsyncd's figures include and rsync's does not); git checkout writes 1,000 such files in tens of ms.
  for (let k = 0; k < edits; k++) {
    const rel = smallPath((k * step) % shape.smallFiles);
    const marker = `burst-${seed}-${k}-${rand().toString(36)}`;
    const fd = openSync(join(root, rel), 'r+');
    try {
      writeSync(fd, Buffer.from(`// ${marker}\n`), 0, undefined, Math.floor(fstatSync(fd).size / 2));
      // Same size: the mtime must move on, or a quick check (rsync's) could skip the edit.
      futimesSync(fd, later, later);
    } finally {
      closeSync(fd);
    }
    out.push({ rel, marker });
  }
  mkdirSync(join(root, 'src', 'feature'), { recursive: true });
  for (let k = 0; k < newFiles; k++) {
    const rel = `src/feature/new${k}.ts`;
    const marker = `new-${seed}-${k}`;
    writeFileSync(join(root, rel), Buffer.concat([Buffer.from(`// ${marker}\n`), sourceText(2_048 + (rand() % 4_096), rand)]));
    out.push({ rel, marker });
  }
  return Promise.resolve(out);
}

/** The files `deleteSome` removes: `count` sources spread over the tree, none of them in src/feature. */
export function deletedPaths(shape: TreeShape, count: number): string[] {
  const step = Math.floor(shape.smallFiles / count);
  return Array.from({ length: count }, (_, k) => smallPath(k * step + 1));
}

/** `files` small files (72 bytes), 100 to a directory: a tree that is many files and few bytes. */
export function writeManyFiles(root: string, files: number): void {
  for (let i = 0; i < files; i++) {
    const dir = join(root, `d${Math.floor(i / 100)}`);
    if (i % 100 === 0) mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `f${i}.txt`), `file ${i}\n`.repeat(8));
  }
}
