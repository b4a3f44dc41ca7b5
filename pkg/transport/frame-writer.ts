// The client's half of an Apply stream: BatchOps in, frames out. Small ops and content are packed together
// into frames of up to FRAME_BYTES (one message per small file would cost more than its bytes); literals are
// deflated while that pays.
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { ErrorCode, KxError } from '../sync/errors.ts';
import type { BatchOp } from '../sync/types.ts';
import { opToMsg } from '../wire/convert.ts';
import { deflateIfSmaller, deflatedLiteral, rawLiteral } from '../../proto/literal.ts';
import type { ApplyFrame, ApplyItem, Target } from '../../proto/messages.ts';
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
  /** Send one frame; resolves when the transport can take more (back-pressure). */
  send(frame: ApplyFrame): Promise<void>;
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
  let items: ApplyItem[] = [];
  let pending = 0;
  const policy = opts.policy;
  policy?.pause();
  let opened = opts.opened ?? false;
  let wire = 0;

  const emit = async (flush: boolean): Promise<void> => {
    const frame: ApplyFrame = { open: opened ? null : { target: opts.target }, items, flush };
    const bytes = pending;
    opened = true;
    items = [];
    pending = 0;
    const start = performance.now();
    await opts.sink.send(frame);
    policy?.sent(bytes, performance.now() - start);
  };
  const push = async (item: ApplyItem, bytes: number): Promise<void> => {
    items.push(item);
    pending += bytes + 16;
    if (pending >= FRAME_BYTES) await emit(false);
  };

  let sliceStart = performance.now();
  for await (const op of ops) {
    opts.signal?.throwIfAborted();
    if (performance.now() - sliceStart >= SLICE_MS) {
      await yieldToEventLoop();
      sliceStart = performance.now();
    }
    await push({ item: 'op', op: opToMsg(op) }, op.path.length + 64);
    if (op.op !== 'write') continue;
    let compress = opts.compress;
    try {
      for await (const d of op.body) {
        opts.signal?.throwIfAborted();
        if (d.kind === 'copy') {
          // Weighed as 1/COPY_WEIGHT of the bytes the receiver copies for it: a frame leaves once its copies stand
          // for ~16 MiB (delta.ts sends long runs in parts that size), so the receiver copies while the rest is matched.
          await push({ item: 'copy', copy: { index: d.index, count: d.count } }, 8 + Math.floor((d.count * (op.blockSize ?? 0)) / COPY_WEIGHT));
          continue;
        }
        const tried = compress && (policy?.compressing ?? true);
        const packed = tried ? await deflateIfSmaller(d.data) : null;
        if (tried) policy?.deflated(d.data.byteLength, packed?.byteLength ?? d.data.byteLength);
        if (packed === null && d.data.byteLength >= PROBE_BYTES) compress = false;
        const literal = packed ? deflatedLiteral(packed, d.data.byteLength) : rawLiteral(d.data);
        wire += literal.data.byteLength;
        await push({ item: 'literal', literal }, literal.data.byteLength);
      }
      // Digest at end (the op's digest was ''): known now that the body was read through.
      const digest = op.digest === '' ? (op.digestAtEnd?.() ?? '') : '';
      await push({ item: 'end', end: { abort: false, reason: '', code: '', digest } }, 4 + digest.length);
    } catch (err) {
      if (opts.signal?.aborted) throw err;
      // The local file could not be read (gone, changed, unreadable): the receiver drops its temp file and
      // reports the path; the batch goes on.
      const kx = err instanceof KxError ? err : new KxError(ErrorCode.Io, `${op.path}: ${(err as Error)?.message ?? err}`);
      await push({ item: 'end', end: { abort: true, reason: kx.message, code: kx.code, digest: '' } }, 64);
    }
  }
  await emit(true);
  return wire;
}
