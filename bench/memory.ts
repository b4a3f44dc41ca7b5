import type { Row } from './summary.ts';
export async function runMemory(_opts: { quick: boolean; say: (line: string) => void }): Promise<Row[]> {
  return [];
}
export async function runSoak(_opts: { minutes: number; say: (line: string) => void }): Promise<Row[]> {
  return [];
}
