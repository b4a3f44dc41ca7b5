// What an installed kx builds radar's image from, staged at pack time into <out>: radar's application as
// radar/image/stage.ts stages it for every image (one reproducible tar, so npm's file filters cannot drop files of
// the packages inside; gzipped, so the installed package stays small too), the scripts that turn it into an image
// (build-staged.sh, rootfs.sh), and the hash of the sources it was staged from, which the image is labelled with.

import { execFileSync } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

/** The names pkg/docker/radar-image.ts (STAGED_FILES) looks for; test/ship/install.test.ts checks they agree. */
const STAGED_FILES = { app: 'app.tar.gz', build: 'build-staged.sh', sourceHash: 'source-hash' } as const;

export async function stageRadarImageFiles(root: string, out: string): Promise<void> {
  await rm(out, { recursive: true, force: true });
  await mkdir(out, { recursive: true });
  const work = await mkdtemp(join(tmpdir(), 'kx-radar-app-'));
  try {
    execFileSync(process.execPath, [join(root, 'radar/image/stage.ts'), root, join(work, 'app')], { stdio: ['ignore', 'ignore', 'inherit'] });
    const tar = join(work, 'app.tar');
    execFileSync('tar', ['-C', join(work, 'app'), '--sort=name', '--mtime=@0', '--owner=0', '--group=0', '--numeric-owner', '-cf', tar, '.']);
    await writeFile(join(out, STAGED_FILES.app), gzipSync(await readFile(tar), { level: 9 }));
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  await copyFile(join(root, 'radar/image/build-staged.sh'), join(out, STAGED_FILES.build));
  await copyFile(join(root, 'radar/image/rootfs.sh'), join(out, 'rootfs.sh'));
  // Run as a script, as build-offline.sh does: build/ reads the product as files and imports none of it.
  const sourceHash = execFileSync(process.execPath, [join(root, 'pkg/docker/radar-source-hash.ts'), root], { encoding: 'utf8' });
  await writeFile(join(out, STAGED_FILES.sourceHash), `${sourceHash.trim()}\n`);
}
