// A spec's onSync commands for one container: after a batch lands, each command whose `when` patterns match the
// batch's changed paths runs in the container, in order, before the reload. Output goes to the daemon log line by
// line with a prefix; a command that fails stops the rest and the reload of that batch, and stays in the status
// until a later run succeeds.
import { commandsFor, type OnSyncCommand } from '../config/on-sync.ts';
import type { Logger } from './logger.ts';
import type { OnSyncFailure } from './status.ts';
import type { Connection } from './target.ts';

export interface OnSyncRunnerDeps {
  readonly commands: readonly OnSyncCommand[];
  readonly connection: Pick<Connection, 'exec'>;
  readonly log: Logger;
  /** `spec/pod/container`: the prefix of every output line. */
  readonly who: string;
  /** Per command; default radar's. */
  readonly timeoutMs?: number;
}

/** Output lines kept per stream to report a failure (the first stderr line, the last output line). */
const LINE_MAX = 300;

export class OnSyncRunner {
  readonly #deps: OnSyncRunnerDeps;
  #failure: OnSyncFailure | undefined;

  constructor(deps: OnSyncRunnerDeps) {
    this.#deps = deps;
  }

  /** The last failure, until a later run of the commands succeeds. */
  failure(): OnSyncFailure | undefined {
    return this.#failure;
  }

  /**
   * Runs the commands `changed` (paths relative to the spec's root) triggers. True when all succeeded (or none
   * ran): the reload may follow. A failure to reach radar fails like a command does.
   */
  async run(changed: readonly string[], signal?: AbortSignal): Promise<boolean> {
    const due = commandsFor(this.#deps.commands, changed);
    if (due.length === 0) {
      // A batch that lands and reloads without a command clears an earlier failure too.
      this.#failure = undefined;
      return true;
    }
    for (const command of due) {
      if (signal?.aborted) return false;
      const failure = await this.#runOne(command, signal);
      if (failure !== undefined) {
        this.#failure = failure;
        return false;
      }
    }
    this.#failure = undefined;
    return true;
  }

  async #runOne(command: OnSyncCommand, signal?: AbortSignal): Promise<OnSyncFailure | undefined> {
    const { connection, log, who } = this.#deps;
    const shown = command.run.join(' ');
    const prefix = `[${who} onSync] `;
    const lines = { stdout: new LineSplitter((l) => log.info(prefix + l)), stderr: new LineSplitter((l) => log.warn(prefix + l)) };
    let firstErr: string | undefined;
    let lastLine: string | undefined;
    const onOutput = (stream: 'stdout' | 'stderr', chunk: Buffer): void => {
      for (const l of lines[stream].push(chunk)) {
        if (stream === 'stderr' && firstErr === undefined && l.trim() !== '') firstErr = l.slice(0, LINE_MAX);
        if (l.trim() !== '') lastLine = l.slice(0, LINE_MAX);
      }
    };
    const started = performance.now();
    log.info(`${prefix}running ${shown}`);
    try {
      if (!connection.exec) throw new Error('this target cannot run commands');
      const out = await connection.exec(command.run, {
        ...(command.workdir !== undefined && { workdir: command.workdir }),
        ...(this.#deps.timeoutMs !== undefined && { timeoutMs: this.#deps.timeoutMs }),
        onOutput,
        ...(signal && { signal }),
      });
      for (const s of ['stdout', 'stderr'] as const) for (const l of lines[s].end()) onOutput(s, Buffer.from(`${l}\n`));
      const ms = Math.round(performance.now() - started);
      if (out.exitCode === 0 && !out.timedOut) {
        log.info(`${prefix}${shown}: done in ${ms} ms`);
        return undefined;
      }
      const why = out.timedOut ? 'timed out' : `exit ${out.exitCode}`;
      log.warn(`${prefix}${shown}: ${why}; the rest of onSync and the reload are skipped`);
      return { command: shown, exitCode: out.exitCode, ...(out.timedOut && { timedOut: true }), ...(firstErr ?? lastLine ? { output: firstErr ?? lastLine } : {}), at: Date.now() };
    } catch (err) {
      const message = (err as Error).message.split('\n')[0];
      log.warn(`${prefix}${shown}: ${message}; the rest of onSync and the reload are skipped`);
      return { command: shown, exitCode: -1, output: message.slice(0, LINE_MAX), at: Date.now() };
    }
  }
}

/** Splits a byte stream into lines (the last, unterminated one is held until more comes or end()). */
class LineSplitter {
  readonly #emit: (line: string) => void;
  #rest = '';

  constructor(emit: (line: string) => void) {
    this.#emit = emit;
  }

  push(chunk: Buffer): string[] {
    const parts = (this.#rest + chunk.toString('utf8')).split('\n');
    this.#rest = parts.pop() ?? '';
    // A line that never ends is still logged, in pieces.
    if (this.#rest.length > 8192) {
      parts.push(this.#rest);
      this.#rest = '';
    }
    for (const p of parts) this.#emit(p.replace(/\r$/, ''));
    return parts;
  }

  end(): string[] {
    if (this.#rest === '') return [];
    const last = this.#rest;
    this.#rest = '';
    return [last];
  }
}
