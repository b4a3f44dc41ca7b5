import type { Row } from './summary.ts';
export async function runScale(_opts: { quick: boolean; say: (line: string) => void }): Promise<Row[]> {
  return [];
}
