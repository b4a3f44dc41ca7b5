// Bulk work at a lower CPU priority than the threads that serve saves. A full sync of tens of thousands of files
// keeps a thread busy for seconds (kx's sync worker: reading, hashing, framing; radar's placement thread: creating
// and renaming files); on a machine with few cores it takes CPU from the threads a save goes through (kx's and
// radar's main threads), and a save's few milliseconds of work wait for a turn of the scheduler behind it. On Linux
// the nice value belongs to a thread, not to the process (setpriority(PRIO_PROCESS, tid) changes that thread
// alone), so a worker lowers its own: the main thread and the libuv thread pool keep theirs. Threads a thread creates
// inherit its nice value, and libuv starts its thread pool (process-wide) on the first call that needs it, from
// whichever thread makes it: the main thread starts it before it starts such a worker (startThreadPool), so the pool
// serves saves at the main thread's priority. Raising a nice value needs no privilege; lowering
// it again would (CAP_SYS_NICE), so a worker lowers it once, for its whole life.
import { access, readlinkSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';

/** The nice value of bulk threads: under CFS a nice-0 thread gets about 3× the CPU of a nice-5 one when both want it. */
export const BULK_NICE = 5;

/** The calling thread's kernel id on Linux ("/proc/thread-self" links to "<pid>/task/<tid>"); undefined elsewhere. */
export function currentThreadId(): number | undefined {
  if (process.platform !== 'linux') return undefined;
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    return Number.isInteger(tid) && tid > 0 ? tid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Lowers the calling thread's CPU priority to `nice` (Linux; elsewhere the nice value is the process's, so nothing is
 * done). A thread already at `nice` or lower keeps its priority. Returns the thread's id, or undefined. Never throws: a priority is a preference, not a requirement.
 */
export function lowerThreadPriority(nice: number = BULK_NICE): number | undefined {
  const tid = currentThreadId();
  if (tid === undefined) return undefined;
  try {
    // Never raise a thread's priority (the user may have started the process niced further): only lower it.
    if (getPriority(tid) < nice) setPriority(tid, nice);
    return tid;
  } catch {
    return undefined;
  }
}

/**
 * Starts libuv's thread pool from the calling thread (the main thread, before it starts a worker that lowers its
 * priority), so the pool's threads inherit this thread's priority, not the worker's. Cheap once started.
 */
export function startThreadPool(): void {
  access('/', () => undefined);
}
