// Sees a marker arrive in a file: inotify on the file's directory (through /proc/<pid>/root this is the container's
// own filesystem, so events come from the kernel the moment the receiver renames or writes), plus a 1 ms poll that
// catches anything inotify missed. Each look is one small readFileSync; their count and time are kept so the
// report can say what measuring cost.
import { readFileSync, watch, type FSWatcher } from 'node:fs';
import { dirname } from 'node:path';

export interface Sighting {
  /** performance.now() when the marker was first seen. */
  readonly at: number;
  readonly via: 'inotify' | 'poll';
}

export interface WatchCost {
  looks: number;
  lookMs: number;
}

export interface MarkerWatch {
  readonly seen: Promise<Sighting>;
  cancel(): void;
}

/** Arm before the edit, so the edit's events cannot come before the watch. */
export function watchForMarker(file: string, marker: string, timeoutMs: number, cost: WatchCost): MarkerWatch {
  let watcher: FSWatcher | undefined;
  let poll: NodeJS.Timeout | undefined;
  let deadline: NodeJS.Timeout | undefined;
  let done = false;
  const stop = (): void => {
    done = true;
    watcher?.close();
    clearInterval(poll);
    clearTimeout(deadline);
  };
  const seen = new Promise<Sighting>((resolve, reject) => {
    const look = (via: Sighting['via']): void => {
      if (done) return;
      const start = performance.now();
      let text = '';
      try {
        text = readFileSync(file, 'utf8');
      } catch {
        // Not there yet.
      }
      const end = performance.now();
      cost.looks++;
      cost.lookMs += end - start;
      if (!text.includes(marker)) return;
      stop();
      resolve({ at: start, via });
    };
    try {
      watcher = watch(dirname(file), () => look('inotify'));
      watcher.on('error', () => {});
    } catch {
      // The directory is not there yet: the poll alone will see the file.
    }
    poll = setInterval(() => look('poll'), 1);
    deadline = setTimeout(() => {
      stop();
      reject(new Error(`marker ${marker} did not reach ${file} within ${timeoutMs} ms`));
    }, timeoutMs);
  });
  return { seen, cancel: stop };
}
