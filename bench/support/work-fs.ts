// Where the throughput case's trees, destinations and scratch files live: an ext4 with a journal of its own, as a
// Kubernetes node's disk or Docker Desktop's VM disk is, loop-mounted for the case.
//
// Why not the machine's own /tmp: this VM's root filesystem is ext4 without a journal, and there ext4 makes each
// new inode skip every inode freed in the last minutes whose table block is still cached (`recently_deleted` in
// ext4's inode allocator, checked only without a journal). After a few thousand deletions (an earlier case's
// cleanup, a burst's renames over old files) creating a file costs ~0.5 ms of kernel time instead of ~50 µs, for
// minutes, for every tool: perf put 80 % of a 10,000-file `rsync -a` in that scan, and three such runs in a row,
// each after deleting the one before, took 2.7, 4.1 and 6.2 s; on a journaled ext4 on the same disk 0.59–0.61 s.
// Those were the bench's "slow disk spells". Without root (no mount), the case stays on /tmp and says so.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface WorkFs {
  /** The directory to make the case's work directories in. */
  readonly dir: string;
  /** One line for the report: what the work directories are on. */
  readonly description: string;
  /** Unmount and remove the image; idempotent. */
  close(): void;
}

/** A journaled ext4 loop-mounted for the case, or, when it cannot be made (not root, no loop device), /tmp itself. */
export function openWorkFs(say: (line: string) => void): WorkFs {
  const base = tmpdir();
  if (process.getuid?.() !== 0) {
    return plain(base, `work directories on ${base} (not root: no journaled ext4 of the bench's own; without a journal, ext4 creates files slowly after deletions)`);
  }
  const holder = mkdtempSync(join(base, 'kx-bench-fs-'));
  const image = join(holder, 'ext4.img');
  const dir = join(holder, 'mnt');
  let mounted = false;
  let device: string | undefined;
  const close = (): void => {
    if (mounted) {
      mounted = false;
      try {
        execFileSync('umount', [dir], { stdio: 'ignore' });
      } catch {
        execFileSync('umount', ['-l', dir], { stdio: 'ignore' }); // a process still inside: detach now, gone when it ends
      }
    }
    if (device !== undefined) {
      execFileSync('losetup', ['--detach', device], { stdio: 'ignore' }); // lazily, if the mount is still in use
      device = undefined;
    }
    rmSync(holder, { recursive: true, force: true });
  };
  try {
    writeFileSync(image, '');
    execFileSync('truncate', ['-s', String(IMAGE_BYTES), image]); // sparse: takes disk only for what is written
    execFileSync('mkfs.ext4', ['-q', '-F', image], { stdio: 'ignore' });
    mkdirSync(dir);
    // Direct I/O: the image's blocks are not cached a second time in the host's page cache beneath the mount's.
    device = execFileSync('losetup', ['--find', '--show', '--direct-io=on', image], { encoding: 'utf8' }).trim();
    execFileSync('mount', [device, dir], { stdio: ['ignore', 'ignore', 'pipe'] });
    mounted = true;
  } catch (err) {
    close();
    const why = (err as Error).message.split('\n')[0];
    say(`work directories on ${base}: no journaled ext4 of the bench's own (${why})`);
    return plain(base, `work directories on ${base} (no journaled ext4 could be mounted: ${why})`);
  }
  say(`work directories on a journaled ext4 of the bench's own (${image}, loop-mounted at ${dir})`);
  return { dir, description: 'work directories on a journaled ext4 of the bench\'s own (loop device, direct I/O; see bench/support/work-fs.ts)', close };
}

function plain(dir: string, description: string): WorkFs {
  return { dir, description, close: () => undefined };
}

/** Sparse; the throughput case writes about 2 GiB (three copies of the tree and of the large file, their destinations). */
const IMAGE_BYTES = 32 * 2 ** 30;
