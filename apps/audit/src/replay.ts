// `replay --out DIR`: every projection rebuilt into a fresh directory, and the replay-diff: per
// account (the first key column of each row), what the live files hold that the rebuild does not.
import { mkdirSync } from 'node:fs';
import { printable } from './card-number-filter';
import { Findings, type Progress } from './findings';
import { groupBy } from './group-by';
import { dataDirNotes } from './projection-files';
import { describeDifference } from './projection-diff';
import { compareProjections } from './rebuild';
import { rebuildAll } from './rebuild-worker';
import type { StoreReader } from './store-reader.port';

export async function replay(
  reader: StoreReader,
  /** The reader's file: the rebuild runs on a worker thread reading it (see rebuildAll). */
  storeFile: string,
  dataDir: string,
  outDir: string,
  progress: Progress,
  print: (line: string) => unknown,
): Promise<Findings> {
  const findings = new Findings();
  for (const note of dataDirNotes(dataDir)) findings.note(note);
  mkdirSync(outDir, { recursive: true });
  const rebuilt = await rebuildAll(reader, storeFile, outDir, findings, progress);
  // The replay-diff goes to its own listing; `findings` keeps one violation per row for exit code and --json.
  const comparisons = compareProjections(dataDir, outDir, findings, rebuilt.failedFiles);
  print(`rebuilt ${rebuilt.events} events into ${outDir} in ${(rebuilt.rebuildMs / 1000).toFixed(1)} s`);
  for (const { file, differences, counts } of comparisons) {
    const total = [...counts.values()].reduce((sum, count) => sum + count, 0);
    if (total === 0) {
      print(`${file}: equal to the rebuild`);
      continue;
    }
    const byAccount = groupBy(differences, (difference) => Object.values(difference.key)[0] ?? '(table)');
    print(`${file}: ${total} rows differ, over ${byAccount.size} accounts (or tables)`);
    for (const [account, accountDifferences] of byAccount) {
      print(`  ${printable(account)}:`);
      for (const difference of accountDifferences) print(`    ${describeDifference(file, difference)}`);
    }
  }
  return findings;
}
