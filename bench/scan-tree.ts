// kx's initial scan of a tree, alone in a fresh process, as the daemon's initial sync runs it (stat only, ignore
// files read, the repository's rules applied):
//   node bench/scan-tree.ts DIR
// Prints one JSON line: files, ms (the scan itself, after the process started).
import { createHasher } from '../pkg/sync/hash.ts';
import { scanTree } from '../pkg/sync/scan.ts';

const root = process.argv[2];
if (!root) {
  process.stderr.write('usage: scan-tree.ts DIR\n');
  process.exit(2);
}
const hasher = await createHasher();
const t0 = performance.now();
const { manifest } = await scanTree(root, { hasher, rules: [], hashFiles: false, repoIgnoreFiles: true });
process.stdout.write(`${JSON.stringify({ files: manifest.size, ms: performance.now() - t0 })}\n`);
