// One Exec call on an authorized target: the request checked against radar's limits (argv, workdir, timeout),
// the command run through the runtime, its output forwarded up to a cap, a kill at the timeout or when the client
// cancels, and one last message with the exit code.
import { ErrorCode, KxError } from '../../pkg/sync/errors.ts';
import type { ExecCommand, Executor } from '../../pkg/runtime/exec.ts';
import type { TargetRef } from '../../pkg/runtime/ports.ts';
import type * as M from '../../proto/messages.ts';
import { LIMITS } from './limits.ts';

export interface ExecLimits {
  readonly args: number;
  readonly argBytes: number;
  readonly defaultTimeoutMs: number;
  readonly maxTimeoutMs: number;
  readonly outputBytes: number;
}

export const EXEC_LIMITS: ExecLimits = {
  args: LIMITS.execArgs,
  argBytes: LIMITS.execArgBytes,
  defaultTimeoutMs: LIMITS.execDefaultTimeoutMs,
  maxTimeoutMs: LIMITS.execMaxTimeoutMs,
  outputBytes: LIMITS.execOutputBytes,
};

/** Runs the request's command in `target.ref`, writing ExecOutput messages; rejects with KxError when refused. */
export async function runExec(
  executor: Executor,
  req: M.ExecRequest,
  target: { readonly ref: TargetRef; readonly workdir: string },
  signal: AbortSignal,
  write: (m: M.ExecOutput) => Promise<void>,
  limits: ExecLimits = EXEC_LIMITS,
): Promise<void> {
  const command = checkCommand(req, target.workdir, limits);
  const timeoutMs = Math.min(req.timeoutMs > 0 ? req.timeoutMs : limits.defaultTimeoutMs, limits.maxTimeoutMs);
  const timeout = new AbortController();
  const timer = setTimeout(() => timeout.abort(new KxError(ErrorCode.Cancelled, `exec: timed out after ${timeoutMs} ms`)), timeoutMs);
  const both = AbortSignal.any([signal, timeout.signal]);

  let forwarded = 0;
  let truncated = false;
  // The sink is called synchronously by the runtime; writes go out in order, one after another.
  let sending: Promise<void> = Promise.resolve();
  const forward = (which: 'stdout' | 'stderr', chunk: Buffer): void => {
    if (chunk.byteLength === 0) return;
    const room = limits.outputBytes - forwarded;
    if (room <= 0) {
      truncated = true;
      return;
    }
    const part = chunk.byteLength > room ? chunk.subarray(0, room) : chunk;
    if (part !== chunk) truncated = true;
    forwarded += part.byteLength;
    const msg: M.ExecOutput = { stdout: EMPTY, stderr: EMPTY, exited: false, exitCode: 0, timedOut: false, truncated: false, [which]: Buffer.from(part) };
    sending = sending.then(() => write(msg));
  };

  let exitCode = -1;
  let timedOut = false;
  try {
    const result = await executor.exec(target.ref, command, { stdout: (c) => forward('stdout', c), stderr: (c) => forward('stderr', c) }, both);
    exitCode = result.exitCode;
  } catch (err) {
    if (!(timeout.signal.aborted && !signal.aborted)) throw err;
    timedOut = true;
  } finally {
    clearTimeout(timer);
  }
  await sending;
  await write({ stdout: EMPTY, stderr: EMPTY, exited: true, exitCode, timedOut, truncated });
}

function checkCommand(req: M.ExecRequest, defaultWorkdir: string, limits: ExecLimits): ExecCommand {
  const argv = req.argv;
  if (argv.length === 0 || argv[0] === '') throw new KxError(ErrorCode.InvalidArgument, 'exec: argv must name a command');
  if (argv.length > limits.args) throw new KxError(ErrorCode.Limit, `exec: more than ${limits.args} arguments`);
  for (const a of argv) {
    if (Buffer.byteLength(a) > limits.argBytes) throw new KxError(ErrorCode.Limit, `exec: an argument is longer than ${limits.argBytes} bytes`);
    if (a.includes('\0')) throw new KxError(ErrorCode.InvalidArgument, 'exec: an argument holds a NUL byte');
  }
  const workdir = req.workdir === '' ? defaultWorkdir : req.workdir;
  if (!workdir.startsWith('/') || workdir.includes('\0') || Buffer.byteLength(workdir) > limits.argBytes) {
    throw new KxError(ErrorCode.InvalidArgument, `exec: workdir must be an absolute path inside the container (got ${JSON.stringify(workdir.slice(0, 100))})`);
  }
  return { argv, workdir };
}

const EMPTY = Buffer.alloc(0);
