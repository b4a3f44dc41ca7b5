// The client's half of an Apply stream: BatchOps in, frames out. Small ops and content are packed together
// into frames of up to FRAME_BYTES (one message per small file would cost more than its bytes); literals are
// deflated while that pays.
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { ErrorCode, KxError } from '../sync/errors.ts';
import { DirectFile, SMALL_FILE_BYTES } from '../sync/local-content.ts';
import type { BatchOp } from '../sync/types.ts';
import { opToMsg } from '../wire/convert.ts';
import { deflateIfSmaller, deflatedLiteral, rawLiteral } from '../../proto/literal.ts';
import { FLUSH_FIELD_BYTES, FrameFields, fileEndFieldSize, itemFieldSize, opItemFieldSize, opMsgSize, rawLiteralFieldSize } from '../../proto/apply-frame-codec.ts';
import type { ApplyItem, Target } from '../../proto/messages.ts';
import type { CompressionPolicy } from './compression-policy.ts';

/** Flush a frame once its items hold this many bytes. */
export const FRAME_BYTES = 256 * 1024;
/**
 * How long the writer runs before it lets the event loop turn. Reading small files and packing frames is all
 * synchronous work chained by promises (microtasks), and a wide HTTP/2 window rarely pushes back: without a break,
 * one folder's initial sync would hold every other folder's edit and the status server for hundreds of ms.
 */
const SLICE_MS = 10;
/** A copy item counts toward FRAME_BYTES as the bytes it stands for divided by this. */
const COPY_WEIGHT = 64;
/** A literal chunk this big that does not compress marks the file incompressible (no more attempts). */
const PROBE_BYTES = 4096;

export interface FrameSink {
  /**
   * Send one frame, encoded (apply-frame-codec.ts); resolves when the transport can take more (back-pressure).
   * `written` is called once the transport is done with the frame's bytes (they may then be written over), if ever.
   */
  send(frame: Buffer, written?: () => void): Promise<void>;
}

export interface FrameWriterOptions {
  readonly target: Target;
  readonly sink: FrameSink;
  /** The receiver accepts deflated literals. */
  readonly compress: boolean;
  /** Whether deflating pays on this connection right now (measured); without one, always try when allowed. */
  readonly policy?: CompressionPolicy;
  readonly signal?: AbortSignal;
  /** The stream's open frame was sent already (a stream carrying its second batch, or opened ahead of it). */
  readonly opened?: boolean;
}

/** Writes one batch: open (unless `opened`), the ops with their content, flush. Returns literal bytes put on the wire. */
export async function writeBatch(ops: AsyncIterable<BatchOp>, opts: FrameWriterOptions): Promise<number> {
  const policy = opts.policy;
  policy?.pause();
  let opened = opts.opened ?? false;
  let wire = 0;
  // Frame buffers the transport is done with, written again: a sync sends hundreds of frames, and a fresh buffer
  // each (on top of the copy gRPC makes of it) made most of the ArrayBuffer churn that drove full collections.
  const free: Buffer[] = [];
  /** Where the frame's items begin (after its open field). */
  let start = 0;
  /** What the frame's copy items stand for, beyond their own bytes (see COPY_WEIGHT). */
  let weight = 0;
  // The frame being written, encoded as it grows (see FrameFields): the open field, then item after item.
  let frame = newFrame(FRAME_CAPACITY);

  function newFrame(capacity: number): FrameFields {
    const f = new FrameFields(capacity === FRAME_CAPACITY ? (free.pop() ?? Buffer.allocUnsafe(capacity)) : Buffer.allocUnsafe(capacity));
    if (!opened) f.open({ target: opts.target });
    start = f.pos;
    weight = 0;
    return f;
  }
  const emit = async (flush: boolean): Promise<void> => {
    if (flush) frame.flush();
    const buf = frame.buf;
    const bytes = buf.subarray(0, frame.pos);
    const payload = frame.pos - start;
    opened = true;
    // The batch's last frame (the flush) is followed by none: a save would make a frame's buffer for nothing.
    if (!flush) frame = newFrame(FRAME_CAPACITY);
    const t = performance.now();
    await opts.sink.send(bytes, buf.length === FRAME_CAPACITY ? () => free.push(buf) : undefined);
    policy?.sent(payload, performance.now() - t);
  };
  /**
   * Room for `bytes` more (and the flush field): the frame is sent first when they would not fit in it. Undefined
   * when they fit (most items): the caller awaits only a promise it got, so an item costs no turn of its own.
   */
  const room = (bytes: number): Promise<void> | undefined => (frame.pos + bytes + FLUSH_FIELD_BYTES <= frame.buf.length ? undefined : makeRoom(bytes));
  const makeRoom = async (bytes: number): Promise<void> => {
    const need = bytes + FLUSH_FIELD_BYTES;
    if (frame.pos > start) await emit(false);
    // Larger than a frame (an op listing a directory's contents, a file read whole): a frame of its own size.
    if (frame.pos + need > frame.buf.length) {
      if (frame.buf.length === FRAME_CAPACITY) free.push(frame.buf);
      frame = newFrame(frame.pos + need);
    }
  };
  const settle = (mark: number, want: number, n: number): void => settleLiteral(frame, mark, want, n);
  /** The frame is sent once it holds FRAME_BYTES; undefined (nothing to wait for) until then. */
  const full = (): Promise<void> | undefined => (frame.pos - start + weight >= FRAME_BYTES ? emit(false) : undefined);
  /** `extra`: what the item weighs beyond its bytes. */
  const push = async (item: ApplyItem, extra = 0): Promise<void> => {
    const r = room(itemFieldSize(item));
    if (r) await r;
    frame.item(item);
    weight += extra;
    const f = full();
    if (f) await f;
  };

  let sliceStart = performance.now();
  for await (const op of ops) {
    opts.signal?.throwIfAborted();
    if (performance.now() - sliceStart >= SLICE_MS) {
      await yieldToEventLoop();
      sliceStart = performance.now();
    }
    const msg = opToMsg(op);
    if (op.op !== 'write') {
      await push({ item: 'op', op: msg });
      continue;
    }
    let compress = opts.compress;
    const tryDeflate = (): boolean => compress && (policy?.compressing ?? true);
    // A file read straight into the frames: a small one's op, bytes and end in one frame, a larger one a frame's
    // room at a time.
    const direct = op.body instanceof DirectFile && !tryDeflate() ? op.body : null;
    let file: { fd: number; size: number } | null = null;
    let failed: KxError | null = null;
    if (direct !== null) {
      try {
        file = direct.open();
      } catch (err) {
        failed = asKxError(err, op.path);
      }
    }
    if (direct !== null && file !== null) {
      const { fd, size } = file;
      const endBytes = op.digest === '' ? END_BYTES_DIGEST : END_BYTES;
      const small = size <= SMALL_FILE_BYTES;
      // The op is sized once, for its room and its field (each file's op was sized three times).
      const opBytes = opMsgSize(msg);
      const r = room(opItemFieldSize(opBytes) + (small && size > 0 ? rawLiteralFieldSize(size) : 0) + endBytes);
      if (r) await r;
      frame.opItem(msg, opBytes);
      let mark = frame.pos;
      try {
        if (small) {
          if (size > 0) frame.rawLiteralStart(size);
          const n = direct.readSmall(fd, frame.buf, frame.pos, size);
          if (size > 0) settle(mark, size, n);
          wire += n;
        } else {
          try {
            for (let position = 0; ; ) {
              opts.signal?.throwIfAborted();
              if (frame.buf.length - frame.pos - FLUSH_FIELD_BYTES - endBytes < MIN_CHUNK + LITERAL_FIELDS) await emit(false);
              mark = frame.pos;
              const want = frame.buf.length - frame.pos - FLUSH_FIELD_BYTES - endBytes - LITERAL_FIELDS;
              frame.rawLiteralStart(want);
              const n = await direct.readChunk(fd, frame.buf, frame.pos, want, position);
              settle(mark, want, n);
              wire += n;
              position += n;
              if (n < want) break;
              const f = full();
              if (f) await f;
            }
          } finally {
            direct.close(fd);
          }
        }
      } catch (err) {
        if (opts.signal?.aborted) throw err;
        frame.pos = mark;
        await push(abortItem(asKxError(err, op.path)));
        continue;
      }
      const digest = op.digest === '' ? (op.digestAtEnd?.() ?? '') : '';
      frame.fileEnd(digest);
      const f = full();
      if (f) await f;
      continue;
    }
    await push({ item: 'op', op: msg });
    if (failed !== null) {
      // The local file could not be read (gone, changed, unreadable): the receiver drops its temp file and
      // reports the path; the batch goes on.
      await push(abortItem(failed));
      continue;
    }
    try {
      for await (const d of op.body) {
        opts.signal?.throwIfAborted();
        if (d.kind === 'copy') {
          // Weighed as 1/COPY_WEIGHT of the bytes the receiver copies for it: a frame leaves once its copies stand
          // for ~16 MiB (delta.ts sends long runs in parts that size), so the receiver copies while the rest is matched.
          await push({ item: 'copy', copy: { index: d.index, count: d.count } }, Math.floor((d.count * (op.blockSize ?? 0)) / COPY_WEIGHT));
          continue;
        }
        const tried = tryDeflate();
        const packed = tried ? await deflateIfSmaller(d.data) : null;
        if (tried) policy?.deflated(d.data.byteLength, packed?.byteLength ?? d.data.byteLength);
        if (packed === null && d.data.byteLength >= PROBE_BYTES) compress = false;
        const literal = packed ? deflatedLiteral(packed, d.data.byteLength) : rawLiteral(d.data);
        wire += literal.data.byteLength;
        await push({ item: 'literal', literal });
      }
      // Digest at end (the op's digest was ''): known now that the body was read through.
      const digest = op.digest === '' ? (op.digestAtEnd?.() ?? '') : '';
      await push(endItem(digest));
    } catch (err) {
      if (opts.signal?.aborted) throw err;
      await push(abortItem(asKxError(err, op.path)));
    }
  }
  const last = room(0);
  if (last) await last;
  await emit(true);
  return wire;
}

/**
 * Ends a raw literal begun for `want` bytes at `mark` of which `n` were read: a file that shrank since it was
 * opened gets fields that say n, its bytes moved up behind them; none read, no literal.
 */
function settleLiteral(frame: FrameFields, mark: number, want: number, n: number): void {
  if (n === want) {
    frame.rawLiteralEnd(n);
    return;
  }
  const at = frame.pos;
  frame.pos = mark;
  if (n === 0) return;
  frame.rawLiteralStart(n);
  frame.buf.copyWithin(frame.pos, at, at + n);
  frame.rawLiteralEnd(n);
}

/** The most a raw literal's fields around its bytes take (tags and lengths of a literal below 2 MiB). */
const LITERAL_FIELDS = 16;
/** A large file's bytes go into what a frame has left when that is at least this much, else into the next frame. */
const MIN_CHUNK = 16 * 1024;

/** A frame's room: FRAME_BYTES and what the item that crosses it may add (a small file read whole, its op, its end). */
const FRAME_CAPACITY = FRAME_BYTES + 4096;
/** A digest's length, as the end item of a file hashed as it was read carries it. */
const DIGEST_CHARS = '0123456789abcdef';
/** An end item's field: with the digest of a file hashed as it was read, and without one. */
const END_BYTES_DIGEST = fileEndFieldSize(DIGEST_CHARS);
const END_BYTES = fileEndFieldSize('');
function endItem(digest: string): ApplyItem {
  return { item: 'end', end: { abort: false, reason: '', code: '', digest } };
}

function abortItem(err: KxError): ApplyItem {
  return { item: 'end', end: { abort: true, reason: err.message, code: err.code, digest: '' } };
}

function asKxError(err: unknown, path: string): KxError {
  return err instanceof KxError ? err : new KxError(ErrorCode.Io, `${path}: ${(err as Error)?.message ?? err}`);
}
