// Killing a command radar started in a container, with what it started: the runtimes' exec APIs give the
// process's PID on the node (Docker has no call to kill an exec'd process), and radar sees the node's processes.
import { readFileSync } from 'node:fs';

/** SIGKILL to `pid` and every descendant still there (children first looked up, then all killed). */
export function killTree(pid: number, procRoot = '/proc'): void {
  const all = [pid, ...descendants(pid, procRoot)];
  for (const p of all) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      // already gone, or not ours to kill: nothing more to do for it
    }
  }
}

function descendants(pid: number, procRoot: string): number[] {
  const out: number[] = [];
  const queue = [pid];
  // Bounded: a fork bomb must not keep radar walking forever.
  while (queue.length > 0 && out.length < 4096) {
    const p = queue.shift()!;
    let children: string;
    try {
      // The main thread's children list; the kernel keeps it for CONFIG_PROC_CHILDREN (every common distro).
      children = readFileSync(`${procRoot}/${p}/task/${p}/children`, 'utf8');
    } catch {
      continue;
    }
    for (const c of children.split(' ')) {
      const n = Number(c);
      if (Number.isInteger(n) && n > 0) {
        out.push(n);
        queue.push(n);
      }
    }
  }
  return out;
}
