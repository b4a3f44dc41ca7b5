// The server's view of one Apply stream: frames in, BatchOps out (one batch per `flush`), with each write's
// content as a lazily read body. A body the tree did not read to its end (the write was refused) is skipped,
// so one bad path never desynchronizes the rest of the batch.
import { ErrorCode, KxError } from '../../pkg/sync/errors.ts';
import type { BatchOp, DeltaOp, RelPath } from '../../pkg/sync/types.ts';
import { opFromMsg } from '../../pkg/wire/convert.ts';
import { literalBytes } from '../../proto/literal.ts';
import type { ApplyFrame, ApplyItem, Target } from '../../proto/messages.ts';
import { isErrorCode } from '../../pkg/wire/status.ts';

const FLUSH = Symbol('flush');
const EOF = Symbol('eof');
type Next = ApplyItem | typeof FLUSH | typeof EOF;

export class ApplyFrameReader {
  readonly #frames: AsyncIterator<ApplyFrame>;
  #items: ApplyItem[] = [];
  #index = 0;
  #flushPending = false;
  #eof = false;
  #failure: KxError | undefined;
  #opened = false;
  #wireBytes = 0;
  /** The current write's content was read to its `end` item. */
  #bodyDone = true;
  /** The digest the current write's `end` item carried ('' when none, or not read yet). */
  #endDigest = '';

  constructor(frames: AsyncIterator<ApplyFrame>) {
    this.#frames = frames;
  }

  /** The target named by the first frame; PROTOCOL if the stream does not start with `open`. */
  async open(): Promise<Target | null> {
    const first = await this.#frames.next();
    if (first.done || !first.value.open) throw new KxError(ErrorCode.Protocol, 'Apply stream must start with an open frame');
    this.#opened = true;
    this.#take(first.value);
    return first.value.open.target;
  }

  /** True when the client has half-closed and every batch was read. */
  async atEnd(): Promise<boolean> {
    while (!this.#eof && !this.#flushPending && this.#index >= this.#items.length) await this.#pull();
    return this.#eof && this.#index >= this.#items.length && !this.#flushPending;
  }

  /** Literal bytes received (as on the wire) since the last call. */
  takeWireBytes(): number {
    const n = this.#wireBytes;
    this.#wireBytes = 0;
    return n;
  }

  /** The ops of the next batch, ending at its flush (or at the end of the stream). */
  async *batch(): AsyncGenerator<BatchOp> {
    if (!this.#opened) throw new KxError(ErrorCode.Protocol, 'Apply stream not opened');
    for (;;) {
      const next = await this.#next();
      if (next === FLUSH || next === EOF) return;
      if (next.item !== 'op') throw new KxError(ErrorCode.Protocol, `Apply stream: ${next.item} frame outside a write`);
      const op = opFromMsg(next.op);
      if (op.op !== 'write') {
        yield op;
        continue;
      }
      this.#bodyDone = false;
      this.#endDigest = '';
      // Digest at end: the write's digest arrives after its content; the tree asks for it once it read the body.
      const body = this.#frameBody(op.path);
      yield op.digest === '' ? { ...op, body, digestAtEnd: () => this.#endDigest } : { ...op, body };
      await this.#skipBody(op.path);
    }
  }

  /** The current write's content: streamed, or taken at once when all of it is in the frame at hand (FrameBody). */
  #frameBody(path: RelPath): AsyncIterable<DeltaOp> & { buffered(): readonly DeltaOp[] | undefined } {
    let started = false;
    return {
      [Symbol.asyncIterator]: () => {
        started = true;
        return this.#body(path);
      },
      buffered: () => (started ? undefined : this.#takeBuffered()),
    };
  }

  /**
   * The current write's content, read past at once, when the frame at hand holds all of it (up to its `end`), raw
   * and not abandoned; undefined otherwise, nothing read (the body is then streamed, which also reports what is wrong).
   */
  #takeBuffered(): readonly DeltaOp[] | undefined {
    if (this.#bodyDone) return undefined;
    const items = this.#items;
    let i = this.#index;
    for (; i < items.length; i++) {
      const it = items[i];
      if (it.item === 'end') break;
      if (it.item === 'op' || (it.item === 'literal' && it.literal.deflated)) return undefined;
    }
    if (i >= items.length) return undefined;
    const end = items[i];
    if (end.item !== 'end' || end.end.abort) return undefined;
    const out: DeltaOp[] = [];
    for (let k = this.#index; k < i; k++) {
      const it = items[k];
      if (it.item === 'copy') out.push({ kind: 'copy', index: it.copy.index, count: it.copy.count });
      else if (it.item === 'literal') {
        this.#wireBytes += it.literal.data.byteLength;
        out.push({ kind: 'literal', data: it.literal.data });
      }
    }
    this.#index = i + 1;
    this.#bodyDone = true;
    this.#endDigest = end.end.digest;
    return out;
  }

  async *#body(path: RelPath): AsyncGenerator<DeltaOp> {
    for (;;) {
      const next = await this.#next();
      if (next === FLUSH || next === EOF) {
        throw new KxError(ErrorCode.Protocol, `${path}: content cut short by the end of the batch`);
      }
      switch (next.item) {
        case 'copy':
          yield { kind: 'copy', index: next.copy.index, count: next.copy.count };
          break;
        case 'literal':
          this.#wireBytes += next.literal.data.byteLength;
          yield { kind: 'literal', data: await literalBytes(next.literal, path) };
          break;
        case 'end': {
          this.#bodyDone = true;
          const end = next.end;
          if (!end.abort) {
            this.#endDigest = end.digest;
            return;
          }
          const code = isErrorCode(end.code) ? end.code : ErrorCode.Io;
          throw new KxError(code, end.reason || `${path}: the sender abandoned the file`);
        }
        case 'op':
          throw new KxError(ErrorCode.Protocol, `${path}: next op before the end of the file's content`);
      }
    }
  }

  /** Read past what is left of the current write's content. */
  async #skipBody(path: RelPath): Promise<void> {
    while (!this.#bodyDone) {
      const next = await this.#next();
      if (next === FLUSH || next === EOF || next.item === 'op') {
        throw new KxError(ErrorCode.Protocol, `${path}: content cut short`);
      }
      if (next.item === 'literal') this.#wireBytes += next.literal.data.byteLength;
      if (next.item === 'end') this.#bodyDone = true;
    }
  }

  async #next(): Promise<Next> {
    for (;;) {
      if (this.#index < this.#items.length) return this.#items[this.#index++];
      if (this.#flushPending) {
        this.#flushPending = false;
        return FLUSH;
      }
      if (this.#eof) return EOF;
      await this.#pull();
    }
  }

  async #pull(): Promise<void> {
    if (this.#failure !== undefined) throw this.#failure;
    let r: IteratorResult<ApplyFrame>;
    try {
      r = await this.#frames.next();
    } catch (err) {
      this.#failure = err instanceof KxError ? err : new KxError(ErrorCode.Cancelled, `Apply stream broken: ${(err as Error)?.message ?? err}`, { cause: err });
      throw this.#failure;
    }
    if (r.done) this.#eof = true;
    else {
      if (r.value.open) throw new KxError(ErrorCode.Protocol, 'Apply stream: a second open frame');
      this.#take(r.value);
    }
  }

  #take(frame: ApplyFrame): void {
    this.#items = frame.items;
    this.#index = 0;
    this.#flushPending = frame.flush;
  }
}
