// What an installed kx builds radar's image from, staged at pack time into <out>: radar's application as
// radar/image/stage.ts stages it for every image (one reproducible tar, so npm's file filters cannot drop files of
// the packages inside), the scripts that turn it into an image (build-staged.sh, rootfs.sh), and the hash of the
// sources it was staged from, which the image is labelled with (pkg/docker/radar-image.ts reads these names).

import { execFileSync } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { STAGED_FILES } from '../pkg/docker/radar-image.ts';
import { radarSourceHash } from '../pkg/docker/radar-source-hash.ts';

export async function stageRadarImageFiles(root: string, out: string): Promise<void> {
  await rm(out, { recursive: true, force: true });
  await mkdir(out, { recursive: true });
  const work = await mkdtemp(join(tmpdir(), 'kx-radar-app-'));
  try {
    execFileSync(process.execPath, [join(root, 'radar/image/stage.ts'), root, join(work, 'app')], { stdio: ['ignore', 'ignore', 'inherit'] });
    execFileSync('tar', ['-C', join(work, 'app'), '--sort=name', '--mtime=@0', '--owner=0', '--group=0', '--numeric-owner', '-cf', join(out, STAGED_FILES.app), '.']);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  await copyFile(join(root, 'radar/image/build-staged.sh'), join(out, STAGED_FILES.build));
  await copyFile(join(root, 'radar/image/rootfs.sh'), join(out, 'rootfs.sh'));
  await writeFile(join(out, STAGED_FILES.sourceHash), `${await radarSourceHash(root)}\n`);
}
