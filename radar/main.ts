// radar as a process serving one directory (issue 2):
//   node radar/main.ts --root DIR --listen 127.0.0.1:PORT --token-file FILE   (or the token in KX_TOKEN)
// Prints "radar listening on HOST:PORT" once it serves; SIGTERM/SIGINT close it gracefully.
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ErrorCode, KxError } from '../pkg/sync/errors.ts';
import { createHasher } from '../pkg/sync/hash.ts';
import { RadarServer } from './grpc/server.ts';
import { StaticRootResolver } from './grpc/static-resolver.ts';

async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      root: { type: 'string' },
      listen: { type: 'string', default: '127.0.0.1:7780' },
      'token-file': { type: 'string' },
      fsync: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (!values.root) throw new KxError(ErrorCode.InvalidConfig, '--root DIR is required');
  const token = values['token-file'] ? (await readFile(values['token-file'], 'utf8')).trim() : (process.env.KX_TOKEN ?? '').trim();
  if (!token) throw new KxError(ErrorCode.InvalidConfig, 'no token: pass --token-file FILE or set KX_TOKEN');

  const server = new RadarServer({
    listen: values.listen,
    resolver: new StaticRootResolver(resolve(values.root), token),
    hasher: await createHasher(),
    fsync: values.fsync,
  });
  const { address } = await server.start();
  process.stdout.write(`radar listening on ${address}\n`);
  const stop = (): void => {
    void server.close().then(() => process.exit(0));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`radar: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(err instanceof KxError && err.code === ErrorCode.InvalidConfig ? 2 : 1);
});
