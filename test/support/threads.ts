// This process's threads as Linux reports them: name and nice value of each (/proc/self/task/<tid>/{comm,stat}).
import { readdirSync, readFileSync } from 'node:fs';

export interface ThreadInfo {
  readonly tid: number;
  readonly name: string;
  readonly nice: number;
}

/** The process's threads now (Linux); threads that end while being read are left out. */
export function threads(pid: number | 'self' = 'self'): ThreadInfo[] {
  const out: ThreadInfo[] = [];
  for (const t of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${t}/stat`, 'utf8');
      // Fields after the name (which may hold spaces) start at field 3; nice is field 19.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.push({ tid: Number(t), name: readFileSync(`/proc/${pid}/task/${t}/comm`, 'utf8').trim(), nice: Number(fields[16]) });
    } catch {
      // the thread ended
    }
  }
  return out;
}
