// An Apply call's frames as grpc-js hands them over (raw bytes, see limits.ts): the next one may be looked at before it
// is taken (the service decides there whether the rest of the stream goes to a thread of its own, bulk-apply.ts), and
// they may be taken decoded, on this thread, or raw, to be moved to that thread.
import { ErrorCode, KxError } from '../../pkg/sync/errors.ts';
import { decodeApplyFrame } from '../../proto/apply-frame-codec.ts';
import protobuf from 'protobufjs';
import type { ApplyFrame, ApplyOpen } from '../../proto/messages.ts';

export class RawFrames implements AsyncIterator<Buffer> {
  readonly #frames: AsyncIterator<Buffer>;
  #peeked: IteratorResult<Buffer> | undefined;

  constructor(frames: AsyncIterator<Buffer>) {
    this.#frames = frames;
  }

  /** The next frame, left to be taken; undefined at the end of the stream. */
  async peek(): Promise<Buffer | undefined> {
    this.#peeked ??= await this.#frames.next();
    return this.#peeked.done ? undefined : this.#peeked.value;
  }

  async next(): Promise<IteratorResult<Buffer>> {
    const r = this.#peeked ?? (await this.#frames.next());
    this.#peeked = undefined;
    return r;
  }

  /** What the next frame opens the stream with and how many ops it carries, left to be taken; undefined at the end. */
  async peekHead(): Promise<FrameHead | undefined> {
    const raw = await this.peek();
    return raw === undefined ? undefined : frameHead(raw);
  }

  /** The frames from here on, decoded as they are taken. */
  decoded(): AsyncIterator<ApplyFrame> {
    return {
      next: async () => {
        const r = await this.next();
        return r.done ? r : { done: false, value: decodeFrame(r.value) };
      },
    };
  }
}

/** One frame decoded; malformed bytes are the peer's fault (PROTOCOL), not radar's. */
export function decodeFrame(raw: Buffer): ApplyFrame {
  try {
    return decodeApplyFrame(raw);
  } catch (err) {
    throw new KxError(ErrorCode.Protocol, `Apply stream: malformed frame (${(err as Error).message})`, { cause: err });
  }
}

export interface FrameHead {
  /** The frame's open field (null when it has none). */
  readonly open: ApplyOpen | null;
  /** Op items in the frame: how much work its batch carries. */
  readonly ops: number;
}

/** A frame's open field and its count of ops, read without decoding its items. Malformed bytes: PROTOCOL. */
export function frameHead(raw: Buffer): FrameHead {
  let open: ApplyOpen | null = null;
  let ops = 0;
  try {
    const r = protobuf.Reader.create(raw);
    while (r.pos < r.len) {
      const at = r.pos;
      const tag = r.uint32();
      if (tag === OPEN_TAG || tag === ITEM_TAG) {
        const len = r.uint32();
        const end = r.pos + len;
        if (end > r.len) throw new RangeError('a field overruns the frame');
        // An item's first byte is its oneof's tag: op is field 1.
        if (tag === ITEM_TAG) ops += len > 0 && raw[r.pos] === OP_ITEM_TAG ? 1 : 0;
        else open = decodeFrame(raw.subarray(at, end)).open;
        r.pos = end;
      } else r.skipType(tag & 7);
    }
  } catch (err) {
    if (err instanceof KxError) throw err;
    throw new KxError(ErrorCode.Protocol, `Apply stream: malformed frame (${(err as Error).message})`, { cause: err });
  }
  return { open, ops };
}

/** ApplyFrame.open (field 1) and ApplyFrame.items (2), length-delimited; ApplyItem.op (1), length-delimited. */
const OPEN_TAG = (1 << 3) | 2;
const ITEM_TAG = (2 << 3) | 2;
const OP_ITEM_TAG = (1 << 3) | 2;
