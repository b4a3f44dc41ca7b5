// The daemon's log: one line per event, filtered by the configured level.

import type { LogLevel } from '../config/types.ts';

export interface Logger {
  error(message: string): void;
  warn(message: string): void;
  info(message: string): void;
  debug(message: string): void;
}

const RANK: Readonly<Record<LogLevel, number>> = { error: 0, warn: 1, info: 2, debug: 3 };

export function streamLogger(out: { write(text: string): unknown }, level: () => LogLevel): Logger {
  const line = (at: LogLevel, message: string): void => {
    if (RANK[at] <= RANK[level()]) out.write(`${new Date().toISOString()} ${at.padEnd(5)} ${message}\n`);
  };
  return {
    error: (m) => line('error', m),
    warn: (m) => line('warn', m),
    info: (m) => line('info', m),
    debug: (m) => line('debug', m),
  };
}

export const silentLogger: Logger = { error() {}, warn() {}, info() {}, debug() {} };
