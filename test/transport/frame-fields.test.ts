// The sender's shortcuts through the ApplyFrame codec write the bytes its general path writes: an op item written
// with its op's size computed once (FrameFields.opItem), a file's end written directly (FrameFields.fileEnd), and
// the hand-written varints and short strings of ProtoWriter, which protobufjs's own writer must agree with at every
// length boundary and for the values a file's op carries (mtimes in ms, sizes past 4 GiB, non-ASCII paths).
import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import { FrameFields, fileEndFieldSize, itemFieldSize, opItemFieldSize, opMsgSize } from '../../proto/apply-frame-codec.ts';
import { ProtoWriter, strField, varintSize } from '../../proto/proto-writer.ts';
import type * as M from '../../proto/messages.ts';

function op(o: Partial<M.OpMsg>): M.OpMsg {
  return { op: 'write', path: 'src/a.ts', from: '', mode: 0o644, mtimeMs: 1_764_000_000_123, size: 1234, digest: '', basis: 'whole', blockSize: 0, linkTarget: '', expect: null, ...o };
}

const OPS: M.OpMsg[] = [
  op({}),
  op({ path: 'ünï/文件.txt', size: 2 ** 40 + 1, digest: '0123456789abcdef' }),
  op({ path: 'x'.repeat(127), mtimeMs: 0, size: 0 }),
  op({ path: 'y'.repeat(128), mtimeMs: -1 }),
  op({ path: 'z'.repeat(300), mtimeMs: 2 ** 53 - 1, mode: 0o100755 }),
  op({ op: 'remove', path: 'gone', mode: 0, size: 0, basis: '', expect: { absent: false, kind: 'file', size: 3, mtimeMs: 1_700_000_000_000, checkContents: false, contents: [] } }),
  op({ op: 'move', from: 'old/é', path: 'new', expect: { absent: true, kind: '', size: 0, mtimeMs: 0, checkContents: false, contents: [] } }),
];

/** The frame's bytes as FrameFields writes them, in a buffer with room to spare. */
function written(fill: (f: FrameFields) => void): Buffer {
  const f = new FrameFields(Buffer.alloc(64 * 1024));
  fill(f);
  return Buffer.from(f.buf.subarray(0, f.pos));
}

describe('FrameFields shortcuts', () => {
  it.each(OPS.map((m) => [m.path.slice(0, 20), m] as const))('writes the op item for %s as item() does, and sizes it the same', (_name, m) => {
    const item: M.ApplyItem = { item: 'op', op: m };
    const bytes = opMsgSize(m);
    expect(written((f) => f.opItem(m, bytes))).toEqual(written((f) => f.item(item)));
    expect(opItemFieldSize(bytes)).toBe(itemFieldSize(item));
  });

  it.each(['', '0123456789abcdef'])('writes a file\'s end with digest "%s" as item() does, and sizes it the same', (digest) => {
    const item: M.ApplyItem = { item: 'end', end: { abort: false, reason: '', code: '', digest } };
    expect(written((f) => f.fileEnd(digest))).toEqual(written((f) => f.item(item)));
    expect(fileEndFieldSize(digest)).toBe(itemFieldSize(item));
  });
});

describe('ProtoWriter against protobufjs', () => {
  const boundaries = [0, 1, 127, 128, 16_383, 16_384, 2 ** 21 - 1, 2 ** 21, 2 ** 28 - 1, 2 ** 28, 2 ** 28 + 1, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32,
    2 ** 35 - 1, 2 ** 35, 2 ** 42 - 1, 2 ** 42, 1_764_000_000_123, 2 ** 49 - 1, 2 ** 49, 2 ** 53 - 1];

  it('writes and sizes unsigned varints as protobufjs does, at every length boundary', () => {
    for (const v of boundaries) {
      const w = new ProtoWriter(Buffer.alloc(16));
      w.varint(1, v);
      const ref = protobuf.Writer.create();
      if (v !== 0) ref.uint32(8).uint64(v);
      expect([...w.buf.subarray(0, w.pos)], `value ${v}`).toEqual([...ref.finish()]);
      if (v !== 0) expect(varintSize(v), `size of ${v}`).toBe(w.pos - 1);
    }
  });

  it('writes int64 fields as protobufjs does, negative ones as ten bytes', () => {
    for (const v of [...boundaries, -1, -2, -(2 ** 31), -(2 ** 53 - 1)]) {
      const w = new ProtoWriter(Buffer.alloc(16));
      w.int64(5, v, true);
      expect([...w.buf.subarray(0, w.pos)], `value ${v}`).toEqual([...protobuf.Writer.create().uint32(40).int64(v).finish()]);
    }
  });

  it('writes and sizes strings as protobufjs does: short ASCII by hand, others through Buffer', () => {
    for (const s of ['a', 'src/index.ts', 'x'.repeat(128), 'x'.repeat(129), 'ünï', '文件/名', 'a'.repeat(127) + 'é', '😀']) {
      const w = new ProtoWriter(Buffer.alloc(1024));
      w.str(2, s);
      expect([...w.buf.subarray(0, w.pos)], s).toEqual([...protobuf.Writer.create().uint32(18).string(s).finish()]);
      expect(strField(2, s), s).toBe(w.pos);
    }
  });

  it('refuses what is not a safe unsigned integer', () => {
    for (const v of [-1, 1.5, 2 ** 53, Number.NaN]) expect(() => varintSize(v)).toThrow(RangeError);
  });
});
