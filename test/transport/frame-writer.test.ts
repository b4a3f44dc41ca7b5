// The frame writer's files read straight into the frames (DirectFile bodies): what radar decodes from the frames is
// each file's bytes, whole, with its digest after them; a file that shrank or cannot be read is sent as it is or
// aborted, and the batch goes on. A delta's copy of a long unchanged stretch leaves in a frame of its own at once, so
// the receiver copies while the sender matches the rest; short copies share a frame with the literals.
import type * as grpc from '@grpc/grpc-js';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createHasher, type Hasher } from '../../pkg/sync/hash.ts';
import { DirectFile, SMALL_FILE_BYTES } from '../../pkg/sync/local-content.ts';
import { RUN_PART_BYTES } from '../../pkg/sync/delta.ts';
import type { BatchOp, BatchWrite, DeltaOp } from '../../pkg/sync/types.ts';
import { FRAME_BYTES, writeBatch } from '../../pkg/transport/frame-writer.ts';
import { loadRadarProto } from '../../proto/load.ts';
import type * as M from '../../proto/messages.ts';

const proto = loadRadarProto();
const decodeFrame = (b: Buffer): M.ApplyFrame => (proto.service.Apply as grpc.MethodDefinition<M.ApplyFrame, M.ApplyAck>).requestDeserialize(b);

let hasher: Hasher;
let dir: string;
beforeAll(async () => {
  hasher = await createHasher();
});
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kx-frames-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A file's write as send-plan makes it: digest '' and sent after the content, read by the frame writer. */
function write(path: string, size: number, body: DirectFile): BatchWrite {
  return { op: 'write', path, mode: 0o644, mtimeMs: 1, size, digest: '', basis: 'whole', body, digestAtEnd: () => body.digest() };
}

/** Writes the batch into frames and decodes them: per path, the bytes its literals carry and its end. */
async function sent(ops: BatchOp[]): Promise<{ frames: Buffer[]; files: Map<string, { data: Buffer; end: M.FileEndMsg }> }> {
  const frames: Buffer[] = [];
  await writeBatch(
    (async function* () {
      yield* ops;
    })(),
    {
      target: { containerId: 'c', runtime: '', remotePath: '/app' },
      compress: false,
      // As gRPC does: the frame's bytes copied, then the writer told it may write over them.
      sink: {
        send: async (f, written) => {
          frames.push(Buffer.from(f));
          queueMicrotask(() => written?.());
        },
      },
    },
  );
  const files = new Map<string, { data: Buffer; end: M.FileEndMsg }>();
  let current = '';
  let parts: Buffer[] = [];
  for (const [i, f] of frames.map(decodeFrame).entries()) {
    expect(f.open !== null).toBe(i === 0);
    expect(f.flush).toBe(i === frames.length - 1);
    for (const item of f.items) {
      if (item.item === 'op') {
        current = item.op.path;
        parts = [];
      } else if (item.item === 'literal') {
        expect(item.literal.deflated).toBe(false);
        expect(item.literal.rawSize).toBe(item.literal.data.byteLength);
        parts.push(Buffer.from(item.literal.data));
      } else if (item.item === 'end') files.set(current, { data: Buffer.concat(parts), end: item.end });
    }
  }
  return { frames, files };
}

const digestOf = (data: Uint8Array): string => {
  const s = hasher.stream();
  s.update(data);
  return s.digest();
};

describe('writeBatch with files read straight into the frames', () => {
  it('sends small and large files whole, each digest after its bytes, in frames of bounded size (their buffers written again)', async () => {
    const contents = new Map<string, Buffer>([
      ['empty', Buffer.alloc(0)],
      ['a.ts', randomBytes(3000)],
      ['limit.bin', randomBytes(SMALL_FILE_BYTES)],
      ['big.bin', randomBytes(3 * 1024 * 1024 + 17)],
      ['b.ts', randomBytes(100)],
    ]);
    for (const [p, data] of contents) await writeFile(join(dir, p), data);
    const read: number[] = [];
    const ops = [...contents].map(([p, data]) => write(p, data.byteLength, new DirectFile(join(dir, p), hasher, p === 'big.bin' ? { onRead: (n) => read.push(n) } : {})));
    const { frames, files } = await sent(ops);
    for (const [p, data] of contents) {
      expect(files.get(p)?.data.equals(data), p).toBe(true);
      expect(files.get(p)?.end).toMatchObject({ abort: false, digest: digestOf(data) });
    }
    for (const f of frames) expect(f.byteLength).toBeLessThanOrEqual(FRAME_BYTES + 4096);
    expect(read.at(-1)).toBe(contents.get('big.bin')!.byteLength);
  });

  it('sends what a file holds when it is shorter than when it was opened, and aborts one that cannot be read', async () => {
    const data = randomBytes(5000);
    await writeFile(join(dir, 'shrunk.ts'), data);
    await writeFile(join(dir, 'after.ts'), 'after');
    // As though the file shrank between its open and its read: opened at 200 KiB more than it holds.
    class Shrunk extends DirectFile {
      override open(): { fd: number; size: number } {
        const f = super.open();
        return { ...f, size: f.size + 200 * 1024 };
      }
    }
    const { files } = await sent([
      write('shrunk.ts', 5000, new Shrunk(join(dir, 'shrunk.ts'), hasher)),
      write('gone.ts', 10, new DirectFile(join(dir, 'gone.ts'), hasher)),
      write('after.ts', 5, new DirectFile(join(dir, 'after.ts'), hasher)),
    ]);
    expect(files.get('shrunk.ts')?.data.equals(data)).toBe(true);
    expect(files.get('shrunk.ts')?.end.digest).toBe(digestOf(data));
    expect(files.get('gone.ts')?.end).toMatchObject({ abort: true, code: 'NOT_FOUND', digest: '' });
    expect(files.get('after.ts')?.data.toString()).toBe('after');
  });

  it('gives the same bytes to a reader that iterates the body (an in-process receiver)', async () => {
    const data = randomBytes(SMALL_FILE_BYTES + 5);
    await writeFile(join(dir, 'f.bin'), data);
    const body = new DirectFile(join(dir, 'f.bin'), hasher);
    const parts: Uint8Array[] = [];
    for await (const d of body) if (d.kind === 'literal') parts.push(Buffer.from(d.data));
    expect(Buffer.concat(parts).equals(data)).toBe(true);
    expect(body.digest()).toBe(digestOf(data));
  });
});

describe('writeBatch: a delta\'s copies', () => {
  const target = { containerId: 'c', runtime: 'docker', remotePath: '/app' };

  it('sends the frame holding a delta\'s copy of a long unchanged stretch before the sender matches the rest', async () => {
    const blockSize = 32 * 1024;
    const frames: M.ApplyFrame[] = [];
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
    await writeBatch(ops(), { target, compress: false, sink: { send: async (f) => void frames.push(decodeFrame(Buffer.from(f))) } });
    expect(framesBeforeRest).toBe(1);
    expect(frames[0].items.map((i) => i.item)).toEqual(['op', 'copy']);
    expect(frames.flatMap((f) => f.items.map((i) => i.item))).toEqual(['op', 'copy', 'literal', 'copy', 'end']);
  });

  it('packs a delta\'s short copies with its literals into one frame', async () => {
    const frames: M.ApplyFrame[] = [];
    async function* body(): AsyncIterable<DeltaOp> {
      yield { kind: 'copy', index: 0, count: 10 };
      yield { kind: 'literal', data: new Uint8Array(100) };
      yield { kind: 'copy', index: 11, count: 10 };
    }
    async function* ops(): AsyncIterable<BatchOp> {
      yield { op: 'write', path: 'f', mode: 0o644, mtimeMs: 1, size: 21 * 4096, digest: 'd', basis: 'delta', blockSize: 4096, body: body() };
    }
    await writeBatch(ops(), { target, compress: false, sink: { send: async (f) => void frames.push(decodeFrame(Buffer.from(f))) } });
    expect(frames).toHaveLength(1);
  });
});
