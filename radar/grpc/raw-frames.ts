// An Apply call's frames as grpc-js hands them over (raw bytes, see limits.ts): the next one may be looked at before it
// is taken (the service decides there whether the rest of the stream goes to a thread of its own, bulk-apply.ts), and
// they may be taken decoded, on this thread, or raw, to be moved to that thread.
import { ErrorCode, KxError } from '../../pkg/sync/errors.ts';
import { decodeApplyFrame } from '../../proto/apply-frame-codec.ts';
import type { ApplyFrame } from '../../proto/messages.ts';

export class RawFrames implements AsyncIterator<Buffer> {
  readonly #frames: AsyncIterator<Buffer>;
  #peeked: IteratorResult<Buffer> | undefined;
  #last: Buffer | undefined;

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
    this.#last = r.done ? undefined : r.value;
    return r;
  }

  /** The frame taken last (the open frame, right after it was read). */
  get last(): Buffer | undefined {
    return this.#last;
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

/** Ops in one frame: how much work its batch carries. */
export function opsIn(frame: ApplyFrame): number {
  let n = 0;
  for (const it of frame.items) if (it.item === 'op') n++;
  return n;
}
