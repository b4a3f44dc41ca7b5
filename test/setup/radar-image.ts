// radar's image for the tests that run it (as `kx init` deploys it): built by `npm run image:offline` once per
// change of its inputs, not once per test file. The script itself re-imports only when the content differs, but
// finding that out costs ~20 s of staging and hashing; a fingerprint of the inputs (paths, sizes, mtimes) recorded
// with the image ID it produced skips even that while nothing changed. Concurrent test files wait on one lock.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const repo = resolve(import.meta.dirname, '../..');
/** What the image is made of (radar/image/stage.ts and rootfs.sh). */
const INPUTS = ['radar', 'proto', 'pkg/sync', 'package.json', 'package-lock.json', 'node_modules/.package-lock.json', 'node_modules/node/bin/node'];

/** The tag `kx init` deploys by default (kx-radar:<package version>), built from this checkout and up to date. */
export async function radarImage(): Promise<string> {
  const { version } = JSON.parse(await readFile(join(repo, 'package.json'), 'utf8')) as { version: string };
  const image = `kx-radar:${version}`;
  const memo = join(tmpdir(), `kx-radar-image-${createHash('sha256').update(repo).digest('hex').slice(0, 12)}.json`);
  const lock = `${memo}.lock`;
  const fingerprint = await inputsFingerprint();
  await acquire(lock);
  try {
    const seen = JSON.parse(await readFile(memo, 'utf8').catch(() => '{}')) as { fingerprint?: string; id?: string };
    if (seen.fingerprint === fingerprint && seen.id && seen.id === (await imageId(image))) return image;
    await run('bash', [join(repo, 'radar/image/build-offline.sh')], { cwd: repo, maxBuffer: 1 << 24, env: { ...process.env, KX_RADAR_IMAGE: image } });
    await writeFile(memo, JSON.stringify({ fingerprint, id: await imageId(image) }));
    return image;
  } finally {
    await rm(lock, { recursive: true, force: true });
  }
}

async function imageId(image: string): Promise<string | undefined> {
  return run('docker', ['image', 'inspect', '--format', '{{ .Id }}', image]).then((r) => r.stdout.trim(), () => undefined);
}

async function inputsFingerprint(): Promise<string> {
  const h = createHash('sha256');
  const walk = async (rel: string): Promise<void> => {
    const st = await stat(join(repo, rel)).catch(() => undefined);
    if (st?.isDirectory()) {
      for (const e of (await readdir(join(repo, rel))).sort()) await walk(join(rel, e));
    } else {
      h.update(st ? `${rel}:${st.size}:${st.mtimeMs}\n` : `${rel}:absent\n`);
    }
  };
  for (const i of INPUTS) await walk(i);
  return h.digest('hex');
}

/** A directory as a lock (mkdir is atomic) holding its owner's PID; a lock whose owner is gone is broken. */
async function acquire(lock: string): Promise<void> {
  for (;;) {
    try {
      await mkdir(lock);
      await writeFile(join(lock, 'pid'), String(process.pid));
      return;
    } catch {
      const pid = Number(await readFile(join(lock, 'pid'), 'utf8').catch(() => ''));
      const st = await stat(lock).catch(() => undefined);
      // No PID yet: the owner is between mkdir and writeFile, unless that was long ago.
      const stale = pid > 0 ? !alive(pid) : !!st && Date.now() - st.mtimeMs > 10_000;
      if (stale) await rm(lock, { recursive: true, force: true });
      else await new Promise((r) => setTimeout(r, 250));
    }
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
