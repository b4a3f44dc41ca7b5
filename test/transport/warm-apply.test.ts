// The Apply call a client keeps open between batches (WarmApply) and one call's life (ApplyCall), against a fake
// gRPC call and fake timers: which call the next batch gets, when a kept call is given up, and what replaces it.
import * as grpc from '@grpc/grpc-js';
import { EventEmitter } from 'node:events';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type * as M from '../../proto/messages.ts';
import { ApplyCall, WarmApply } from '../../pkg/transport/apply-call.ts';
import { encodeApplyFrame } from '../../proto/apply-frame-codec.ts';

/** What ApplyCall uses of a grpc-js duplex call, recording what kx does with it. */
class FakeCall extends EventEmitter {
  readonly frames: M.ApplyFrame[] = [];
  ended = false;
  cancelled = false;
  write(frame: M.ApplyFrame): boolean {
    this.frames.push(frame);
    return true;
  }
  end(): void {
    this.ended = true;
  }
  cancel(): void {
    this.cancelled = true;
  }
  ack(applied = 1): void {
    this.emit('data', { applied, bytesReceived: 0, errors: [] });
  }
  fail(code = grpc.status.UNAVAILABLE): void {
    this.emit('error', Object.assign(new Error('gone'), { code, details: 'gone', metadata: new grpc.Metadata() }));
    this.emit('status', { code, details: 'gone', metadata: new grpc.Metadata() });
  }
}

const TARGET: M.Target = { containerId: 'c1', runtime: 'docker', remotePath: '/app' };
let now: number;
let opened: FakeCall[];

function applyCall(): ApplyCall {
  const fake = new FakeCall();
  opened.push(fake);
  return new ApplyCall(fake as unknown as grpc.ClientDuplexStream<M.ApplyFrame, M.ApplyAck>, 'test', now);
}
function warm(opts: { idleMs?: number; maxAgeMs?: number } = {}): WarmApply {
  return new WarmApply({ open: applyCall, target: TARGET, now: () => now, ...opts });
}

beforeEach(() => {
  vi.useFakeTimers();
  now = 0;
  opened = [];
});
afterEach(() => {
  vi.useRealTimers();
});

describe('ApplyCall', () => {
  it('resolves each batch with its own ack, in order', async () => {
    const call = applyCall();
    const fake = opened[0];
    await call.send(encodeApplyFrame({ open: { target: TARGET }, items: [], flush: true }));
    const first = call.nextAck();
    fake.ack(3);
    expect(await first).toMatchObject({ applied: 3 });
    expect(call.opened).toBe(true);
    expect(call.usable).toBe(true);
    fake.ack(5);
    expect(await call.nextAck()).toMatchObject({ applied: 5 });
  });

  it('rejects the batch waiting for its ack with the status that ended the call, as a KxError', async () => {
    const call = applyCall();
    const ack = call.nextAck();
    opened[0].fail(grpc.status.UNAVAILABLE);
    await expect(ack).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    expect(call.usable).toBe(false);
    await expect(call.send(encodeApplyFrame({ open: null, items: [], flush: true }))).rejects.toMatchObject({ code: 'UNAVAILABLE' });
  });

  it('rejects with PROTOCOL when radar ends the call without acking the batch', async () => {
    const call = applyCall();
    const ack = call.nextAck();
    opened[0].emit('status', { code: grpc.status.OK, details: '', metadata: new grpc.Metadata() });
    await expect(ack).rejects.toMatchObject({ code: 'PROTOCOL' });
  });

  it('sends the open frame alone when opened ahead of its first batch', () => {
    const call = applyCall();
    call.openAhead(TARGET);
    call.openAhead(TARGET);
    expect(opened[0].frames).toEqual([{ open: { target: TARGET }, items: [], flush: false }]);
    expect(call.opened).toBe(true);
  });
});

describe('WarmApply', () => {
  it('hands the call given back clean to the next batch, once', () => {
    const w = warm();
    const call = applyCall();
    w.giveBack(call, true);
    expect(w.take()).toBe(call);
    expect(w.take()).toBeUndefined();
    expect(opened[0].ended).toBe(false);
  });

  it('ends a call given back with path errors and opens a fresh one ahead in its place', () => {
    const w = warm();
    const call = applyCall();
    w.giveBack(call, false);
    expect(opened[0].ended).toBe(true);
    expect(opened).toHaveLength(2);
    expect(opened[1].frames).toEqual([{ open: { target: TARGET }, items: [], flush: false }]);
    expect(w.take()).not.toBe(call);
  });

  it('does not keep a call older than maxAgeMs: a fresh one opened ahead replaces it', () => {
    const w = warm({ maxAgeMs: 1000 });
    const call = applyCall();
    now = 1000;
    w.giveBack(call, true);
    expect(opened[0].ended).toBe(true);
    const next = w.take();
    expect(next).toBeDefined();
    expect(next!.openedAt).toBe(1000);
  });

  it('replaces a call kept idle for idleMs with a fresh one opened ahead, before radar would end it', () => {
    const w = warm({ idleMs: 30_000 });
    w.giveBack(applyCall(), true);
    vi.advanceTimersByTime(29_999);
    expect(opened).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(opened[0].ended).toBe(true);
    expect(opened).toHaveLength(2);
    expect(opened[1].frames[0].open).toEqual({ target: TARGET });
    expect(w.kept).toBe(true);
  });

  it('opens nothing in place of a kept call that failed (radar went away): the next batch opens its own', () => {
    const w = warm({ idleMs: 30_000 });
    w.giveBack(applyCall(), true);
    opened[0].fail();
    vi.advanceTimersByTime(30_000);
    expect(opened).toHaveLength(1);
    expect(w.kept).toBe(false);
  });

  it('gives the next batch nothing when the kept call failed meanwhile, and cancels it', () => {
    const w = warm();
    w.giveBack(applyCall(), true);
    opened[0].fail();
    expect(w.take()).toBeUndefined();
    expect(opened[0].cancelled).toBe(true);
  });

  it('keeps one call: a second one given back while one is kept is ended', () => {
    const w = warm();
    const a = applyCall();
    const b = applyCall();
    w.giveBack(a, true);
    w.giveBack(b, true);
    expect(opened[1].ended).toBe(true);
    expect(w.take()).toBe(a);
  });

  it('drop() ends the kept call and opens none in its place: the next batch opens its own', () => {
    const w = warm({ idleMs: 30_000 });
    w.giveBack(applyCall(), true);
    w.drop();
    expect(opened[0].ended).toBe(true);
    expect(w.take()).toBeUndefined();
    vi.runAllTimers();
    expect(opened).toHaveLength(1);
  });

  it('close() ends the kept call, and ends any given back later; nothing is opened ahead after it', () => {
    const w = warm();
    w.giveBack(applyCall(), true);
    w.close();
    w.close();
    expect(opened[0].ended).toBe(true);
    const late = applyCall();
    w.giveBack(late, false);
    expect(opened[1].ended).toBe(true);
    expect(opened).toHaveLength(2);
    vi.runAllTimers();
    expect(opened).toHaveLength(2);
  });
});
