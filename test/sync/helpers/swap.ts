// The hostile receiver of the race tests: once radar has pinned `dir` beneath `root`, the directory is moved away
// (it lives on, detached) and a symlink to `outside` takes its place — what a container could do between radar's
// check of a path and its use.
import { renameSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { PinHooks } from '../../../pkg/receiver/pins.ts';

export interface SwapPlaces {
  readonly root: string;
  /** Where the pinned directory is moved to. */
  readonly detached: string;
  /** What the symlink put in its place points at (the node's own files, say). */
  readonly outside: string;
}

export function swapAfterPin(places: SwapPlaces, dir: string): PinHooks & { swapped: () => boolean } {
  let done = false;
  return {
    afterPin(pinned: string) {
      if (done || pinned !== dir) return;
      done = true;
      renameSync(join(places.root, dir), places.detached);
      symlinkSync(places.outside, join(places.root, dir));
    },
    swapped: () => done,
  };
}
