import { describe, expect, it } from 'vitest';
import { RUN_PART_BYTES } from '../../pkg/sync/delta.ts';
import type { BatchOp, DeltaOp } from '../../pkg/sync/types.ts';
import { writeBatch } from '../../pkg/transport/frame-writer.ts';
import type { ApplyFrame } from '../../proto/messages.ts';

const target = { containerId: 'c', runtime: 'docker', remotePath: '/app' };

describe('writeBatch', () => {
  it('sends the frame holding a delta\'s copy of a long unchanged stretch before the sender matches the rest', async () => {
    const blockSize = 32 * 1024;
    const frames: ApplyFrame[] = [];
    let framesBeforeRest = -1;
    async function* body(): AsyncIterable<DeltaOp> {
      yield { kind: 'copy', index: 0, count: RUN_PART_BYTES / blockSize };
      // The receiver should have the first part by now, while this side goes on matching.
      framesBeforeRest = frames.length;
      yield { kind: 'literal', data: new Uint8Array(blockSize) };
      yield { kind: 'copy', index: RUN_PART_BYTES / blockSize + 1, count: 3 };
    }
    const op: BatchOp = { op: 'write', path: 'big.bin', mode: 0o644, mtimeMs: 1, size: RUN_PART_BYTES + 4 * blockSize, digest: 'd', basis: 'delta', blockSize, body: body() };
    async function* ops(): AsyncIterable<BatchOp> {
      yield op;
    }
    await writeBatch(ops(), { target, compress: false, sink: { send: async (f) => void frames.push(f) } });
    expect(framesBeforeRest).toBe(1);
    expect(frames[0].items.map((i) => i.item)).toEqual(['op', 'copy']);
    expect(frames.flatMap((f) => f.items.map((i) => i.item))).toEqual(['op', 'copy', 'literal', 'copy', 'end']);
  });

  it('packs a delta\'s short copies with its literals into one frame', async () => {
    const frames: ApplyFrame[] = [];
    async function* body(): AsyncIterable<DeltaOp> {
      yield { kind: 'copy', index: 0, count: 10 };
      yield { kind: 'literal', data: new Uint8Array(100) };
      yield { kind: 'copy', index: 11, count: 10 };
    }
    async function* ops(): AsyncIterable<BatchOp> {
      yield { op: 'write', path: 'f', mode: 0o644, mtimeMs: 1, size: 21 * 4096, digest: 'd', basis: 'delta', blockSize: 4096, body: body() };
    }
    await writeBatch(ops(), { target, compress: false, sink: { send: async (f) => void frames.push(f) } });
    expect(frames).toHaveLength(1);
  });
});
