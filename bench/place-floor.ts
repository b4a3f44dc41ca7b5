// The kernel's part of placing files, the floor under any sync tool's receiver on this machine: N files of SIZE
// bytes, 100 to a directory, created in a fresh directory under DIR, each as radar and rsync's receiver write one
// (a temp file opened O_CREAT|O_EXCL, written, its mtime set, closed, renamed over the final name), then created in
// place (no temp file, not atomic), then the same N files replaced atomically (rename over each existing file, as a
// burst of edits does). Prints each pass's wall time and this process's user and system CPU; the system time is the
// filesystem's work, the user time mostly Node's per-call cost, which a C loop does not pay.
//   node bench/place-floor.ts [DIR] [N] [SIZE]    (default: the OS's temp directory, 10000, 15000)
import { closeSync, futimesSync, mkdirSync, openSync, renameSync, writeSync, constants } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const [dirArg, nArg, sizeArg] = process.argv.slice(2);
const n = Number(nArg ?? 10_000);
const size = Number(sizeArg ?? 15_000);
const PER_DIR = 100;
const MTIME = 1_700_000_000;

type Pass = 'atomic' | 'in place' | 'replace';

const work = await mkdtemp(join(dirArg ?? tmpdir(), 'kx-place-floor-'));
try {
  const data = Buffer.alloc(size, 'x');
  const run = (pass: Pass, root: string): void => {
    const t = performance.now();
    const cpu = process.cpuUsage();
    for (let i = 0; i < n; i++) {
      const dir = join(root, `d${Math.floor(i / PER_DIR)}`);
      if (i % PER_DIR === 0 && pass !== 'replace') mkdirSync(dir);
      const name = join(dir, `f${i}.txt`);
      const target = pass === 'in place' ? name : join(dir, `.f${i}.txt.tmp`);
      const fd = openSync(target, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY, 0o644);
      writeSync(fd, data);
      futimesSync(fd, MTIME, MTIME);
      closeSync(fd);
      if (pass !== 'in place') renameSync(target, name);
    }
    const used = process.cpuUsage(cpu);
    const wall = (performance.now() - t) / 1000;
    process.stdout.write(`${pass.padEnd(8)}: ${n} files of ${size} B: ${wall.toFixed(3)} s, user ${(used.user / 1e6).toFixed(3)} s, system ${(used.system / 1e6).toFixed(3)} s (${((used.system / n) | 0)} µs a file)\n`);
  };
  const atomic = join(work, 'atomic');
  const inPlace = join(work, 'in-place');
  mkdirSync(atomic);
  mkdirSync(inPlace);
  run('atomic', atomic);
  run('in place', inPlace);
  run('replace', atomic);
} finally {
  await rm(work, { recursive: true, force: true });
}
