// A worker lowers its own CPU priority and nothing else's: on Linux the nice value is per thread. The main thread
// starts libuv's thread pool before such a worker, so the pool's threads keep the main thread's priority.
import { execFileSync } from 'node:child_process';
import { getPriority } from 'node:os';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { BULK_NICE, currentThreadId } from '../../pkg/lifecycle/thread-priority.ts';
import { threads } from '../support/threads.ts';

const MODULE = new URL('../../pkg/lifecycle/thread-priority.ts', import.meta.url).href;

/** Runs `code` (an ES module body) in a worker named `name`; resolves with what it posts first, the worker still running. */
async function inWorker(name: string, code: string): Promise<{ tid: number; worker: Worker }> {
  const worker = new Worker(new URL(`data:text/javascript,${encodeURIComponent(`import { parentPort } from 'node:worker_threads';\n${code}`)}`), { name });
  const tid = await new Promise<number>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  return { tid, worker };
}

describe('lowerThreadPriority', () => {
  it("gives the calling worker thread BULK_NICE and leaves every other thread's priority alone", async () => {
    const before = new Map(threads().map((t) => [t.tid, t.nice]));
    const { tid, worker } = await inWorker('kx-test-bulk', `import { lowerThreadPriority } from ${JSON.stringify(MODULE)};\nparentPort.postMessage(lowerThreadPriority());\nsetInterval(() => {}, 1000);`);
    try {
      expect(tid).toBeGreaterThan(0);
      expect(getPriority(tid)).toBe(BULK_NICE);
      const now = threads();
      expect(now.find((t) => t.tid === tid)).toMatchObject({ name: 'kx-test-bulk', nice: BULK_NICE });
      for (const t of now) if (t.tid !== tid && before.has(t.tid)) expect({ tid: t.tid, name: t.name, nice: t.nice }).toEqual({ tid: t.tid, name: t.name, nice: before.get(t.tid) });
      expect(getPriority(process.pid)).toBe(before.get(process.pid));
    } finally {
      await worker.terminate();
    }
  });

  it('never raises the priority of a thread already niced further', async () => {
    const { tid, worker } = await inWorker(
      'kx-test-niced',
      `import { setPriority } from 'node:os';\nimport { currentThreadId, lowerThreadPriority } from ${JSON.stringify(MODULE)};\nsetPriority(currentThreadId(), ${BULK_NICE + 3});\nparentPort.postMessage(lowerThreadPriority());\nsetInterval(() => {}, 1000);`,
    );
    try {
      expect(getPriority(tid)).toBe(BULK_NICE + 3);
    } finally {
      await worker.terminate();
    }
  });

  it("names the calling thread's kernel id", () => {
    // The main thread's id is the process id.
    expect(currentThreadId()).toBe(process.pid);
  });

  it("keeps libuv's thread pool at the main thread's priority when the main thread started it first", () => {
    // A fresh process (this one's pool is long started): the main thread starts the pool, then a worker lowers its
    // priority and uses the pool; the pool's threads report the main thread's nice value, the worker BULK_NICE.
    const script = `
      import { Worker } from 'node:worker_threads';
      import { readdirSync, readFileSync } from 'node:fs';
      import { startThreadPool } from ${JSON.stringify(MODULE)};
      startThreadPool();
      const w = new Worker(${JSON.stringify(`import { parentPort } from 'node:worker_threads';
        import { stat } from 'node:fs/promises';
        import { lowerThreadPriority } from ${JSON.stringify(MODULE)};
        lowerThreadPriority();
        await Promise.all(Array.from({ length: 16 }, () => stat('/')));
        parentPort.postMessage('done');
        setInterval(() => {}, 1000);`)}, { eval: true, name: 'kx-test-bulk' });
      w.once('message', async () => {
        const out = [];
        for (const t of readdirSync('/proc/self/task')) {
          const st = readFileSync('/proc/self/task/' + t + '/stat', 'utf8');
          out.push({ name: readFileSync('/proc/self/task/' + t + '/comm', 'utf8').trim(), nice: Number(st.slice(st.lastIndexOf(')') + 2).split(' ')[16]) });
        }
        console.log(JSON.stringify(out));
        process.exit(0);
      });`;
    const out = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' })) as { name: string; nice: number }[];
    expect(out.find((t) => t.name === 'kx-test-bulk')?.nice).toBe(BULK_NICE);
    const pool = out.filter((t) => t.name.startsWith('libuv-worker'));
    expect(pool.length).toBeGreaterThan(0);
    for (const t of pool) expect(t.nice).toBe(0);
  });
});
