// Whether the sender deflates literals: only while the wire holds it back and deflate saves enough to pay for itself.
import { describe, expect, it } from 'vitest';
import { CompressionPolicy } from '../../pkg/transport/compression-policy.ts';

const MiB = 1024 * 1024;

/** One measurement window: `bytes` sent over `ms`, all of it waiting on the transport, deflate making raw → packed. */
function window(policy: CompressionPolicy, bytes: number, ms: number, packed: number | null): void {
  policy.pause();
  if (packed !== null) policy.deflated(bytes, packed);
  policy.sent(bytes, ms, 1000 + ms);
}

describe('CompressionPolicy', () => {
  it('starts out compressing', () => {
    expect(new CompressionPolicy().compressing).toBe(true);
  });

  it('keeps compressing a slow wire while deflate saves much', () => {
    const policy = new CompressionPolicy({ windowBytes: 2 * MiB });
    window(policy, 2 * MiB, 100, MiB); // 20 MiB/s, half saved
    expect(policy.compressing).toBe(true);
  });

  it('stops compressing when deflate saves less than its CPU time costs at the measured rate', () => {
    const policy = new CompressionPolicy({ windowBytes: 2 * MiB });
    window(policy, 2 * MiB, 100, 1.8 * MiB); // 20 MiB/s, 10 % saved: needs ~20 % to pay
    expect(policy.compressing).toBe(false);
  });

  it('stops compressing when the wire outruns deflate', () => {
    const policy = new CompressionPolicy({ windowBytes: 2 * MiB });
    window(policy, 2 * MiB, 20, MiB); // 100 MiB/s
    expect(policy.compressing).toBe(false);
  });

  it('tries deflate again after a while when it did not pay, since the content may have changed', () => {
    const policy = new CompressionPolicy({ windowBytes: 2 * MiB });
    window(policy, 2 * MiB, 100, 1.8 * MiB);
    let windows = 0;
    while (!policy.compressing && windows < 100) {
      window(policy, 2 * MiB, 100, null);
      windows++;
    }
    expect(policy.compressing).toBe(true);
    expect(windows).toBeGreaterThan(1);
  });
});
