// The benchmark's own arithmetic and formatting: ratios against the best peer, goals met or missed, the markdown
// table, the command line, and reading byte counts out of `ss`. (The benchmark itself is not a test: no timing here.)
import { describe, expect, it } from 'vitest';
import { parseBenchArgs } from '../../bench/options.ts';
import { best, met, ratio, resultTable, usageTable, type Row } from '../../bench/summary.ts';
import { parseSs, wireDelta } from '../../bench/support/wire.ts';
import { percentile, stats } from '../../bench/latency.ts';

const row = (r: Partial<Row>): Row => ({ case: 'c', unit: 's', kx: 1, goal: { kind: 'none' }, ...r });

describe('bench summary', () => {
  it('divides kx by the better of rsync and lsyncd, ignoring a peer that did not run', () => {
    expect(best(row({ rsync: 4, lsyncd: 2 }))).toBe(2);
    expect(ratio(row({ kx: 1, rsync: 4, lsyncd: 2 }))).toBe(0.5);
    expect(ratio(row({ kx: 1, rsync: 4 }))).toBe(0.25);
    expect(ratio(row({ kx: 1 }))).toBeUndefined();
  });

  it('holds ratio goals against the best peer or against rsync alone, and absolute goals against kx', () => {
    expect(met(row({ kx: 1, rsync: 4, lsyncd: 2, goal: { kind: 'ratio', max: 0.5 } }))).toBe(true);
    expect(met(row({ kx: 1.1, rsync: 4, lsyncd: 2, goal: { kind: 'ratio', max: 0.5 } }))).toBe(false);
    expect(met(row({ kx: 3, rsync: 4, lsyncd: 2, goal: { kind: 'ratio', max: 1, against: 'rsync' } }))).toBe(true);
    expect(met(row({ kx: 16, unit: 'ms', goal: { kind: 'at-most', max: 15 } }))).toBe(false);
    expect(met(row({ kx: NaN, goal: { kind: 'at-most', max: 15 } }))).toBeUndefined();
    expect(met(row({ kx: 1, goal: { kind: 'ratio', max: 0.5 } }))).toBeUndefined();
  });

  it('prints one markdown row per case with units, the ratio, the goal and a bold miss', () => {
    const table = resultTable([
      row({ case: 'initial | sync', kx: 2.25, rsync: 5.19, lsyncd: 3.94, goal: { kind: 'ratio', max: 0.5 } }),
      row({ case: 'p50', unit: 'ms', kx: 23.1, lsyncd: 94.8, goal: { kind: 'at-most', max: 5 } }),
      row({ case: 'wire', unit: 'bytes', kx: 51_300, rsync: 2 * 1024 * 1024, goal: { kind: 'none' } }),
    ]).split('\n');
    expect(table[0]).toBe('| case | kx | rsync | lsyncd | kx/best | goal | met? |');
    expect(table[2]).toBe('| initial \\| sync | 2.25 s | 5.19 s | 3.94 s | ×0.57 | ≤ ×0.5 best | **no** |');
    expect(table[3]).toBe('| p50 | 23.1 ms | - | 94.8 ms | ×0.24 | ≤ 5.0 ms | **no** |');
    expect(table[4]).toBe('| wire | 50.1 KiB | 2.0 MiB | - | ×0.02 |  |  |');
    expect(usageTable([row({ usage: { kx: { rssMb: 150.4, cpuS: 1.234 } } }), row({ case: 'none' })]).split('\n')).toEqual([
      '| case | kx client RSS / CPU | radar RSS / CPU | peer client RSS / CPU | peer server RSS / CPU |',
      '| --- | --- | --- | --- | --- |',
      '| c | 150 MB / 1.23 s | - | - | - |',
    ]);
  });

  it('reads --quick, --only (in run order), --soak and refuses unknown cases by name', () => {
    expect(parseBenchArgs([], 'out.md')).toMatchObject({ quick: false, soakMinutes: 0, out: 'out.md', cases: ['throughput', 'latency', 'stall', 'cluster', 'memory', 'scale', 'fuzz'] });
    expect(parseBenchArgs(['--quick', '--only', 'scale,throughput'], 'o').cases).toEqual(['throughput', 'scale']);
    expect(parseBenchArgs(['--only', 'memory', '--soak', '2'], 'o')).toMatchObject({ cases: ['memory', 'soak'], soakMinutes: 2 });
    expect(parseBenchArgs(['--only', 'soak'], 'o').soakMinutes).toBe(30);
    expect(() => parseBenchArgs(['--only', 'throughput,warp'], 'o')).toThrow("--only: unknown case 'warp'");
    expect(() => parseBenchArgs(['--soak', 'x'], 'o')).toThrow('--soak: expected minutes');
  });

  it('takes nearest-rank percentiles', () => {
    expect(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 50)).toBe(5);
    expect(stats([10, 1, 5, 3])).toMatchObject({ p50: 3, p95: 10, max: 10, mean: 4.75 });
  });

  it("counts a process's bytes both ways from ss, leaving out its own server's connections", () => {
    const ss = (sent: number, received: number): string =>
      [
        '0      0      127.0.0.1:50000 127.0.0.1:41361 users:(("node",pid=42,fd=21))',
        `\t bbr wscale:10,10 rto:208 bytes_sent:${sent} bytes_acked:${sent} bytes_received:${received} segs_out:2`,
        '0      0      127.0.0.1:7341 127.0.0.1:50001 users:(("node",pid=42,fd=22))',
        '\t bbr bytes_sent:999 bytes_received:999',
        '0      0      127.0.0.1:50002 127.0.0.1:41361 users:(("node",pid=420,fd=5))',
        '\t bbr bytes_sent:777 bytes_received:777',
      ].join('\n');
    const before = { sockets: parseSs(ss(100, 50), 42, 7341) };
    const after = { sockets: parseSs(ss(1_100, 250), 42, 7341) };
    expect([...after.sockets.keys()]).toEqual(['127.0.0.1:50000>127.0.0.1:41361']);
    expect(wireDelta(before, after)).toBe(1_200);
  });
});
