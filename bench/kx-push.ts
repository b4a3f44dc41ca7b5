// One kx client run for the benchmark, as its own process so that its CPU and peak RSS are measured apart:
//   node bench/kx-push.ts --root DIR --address 127.0.0.1:PORT --token TOKEN
// Prints one JSON line: ops, bytesSent, errors.
import { enableCompileCache } from 'node:module';
import { parseArgs } from 'node:util';

// As in cmd/kx.ts: kx's processes start with V8's compile cache on, loading the rest after it.
enableCompileCache();
const [{ createHasher }, { syncTree }, { RadarClient }] = await Promise.all([
  import('../pkg/sync/hash.ts'),
  import('../pkg/sync/push.ts'),
  import('../pkg/transport/client.ts'),
]);

const { values } = parseArgs({
  options: { root: { type: 'string' }, address: { type: 'string' }, token: { type: 'string' } },
});
if (!values.root || !values.address || !values.token) {
  process.stderr.write('usage: kx-push.ts --root DIR --address HOST:PORT --token TOKEN\n');
  process.exit(2);
}
const client = new RadarClient({ address: values.address, token: values.token, target: { containerId: '' }, clientName: 'kx-bench' });
try {
  await client.handshake();
  const r = await syncTree({ root: values.root, receiver: client, hasher: await createHasher(), rules: [] });
  process.stdout.write(`${JSON.stringify({ ops: r.ops, bytesSent: r.bytesSent, errors: r.errors.length })}\n`);
  if (r.errors.length > 0) {
    process.stderr.write(`${r.errors.slice(0, 5).map((e) => `${e.path}: ${e.message}`).join('\n')}\n`);
    process.exitCode = 1;
  }
} finally {
  await client.close();
}
