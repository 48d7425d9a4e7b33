// `export --format csv|jsonl [--from T] [--to T]`: the journal in position order, one posting per
// line, commit time (`recordedAt`) in [from, to). References pass the card-number filter.
import { canonicalJson, type RecordedEvent } from '@ledger/contracts';
import { shardOfStream } from '../../wallet-ledger/src/projections/wallet-ledger.projection';
import { filterReferences, printable } from './card-number-filter';
import type { Progress } from './findings';
import { storedJournalPostings } from './shard-fold';
import { pagesByPosition, type StoreReader } from './store-reader.port';

export const CSV_COLUMNS = ['position', 'stream', 'revision', 'entry_id', 'recorded_at', 'account_id', 'side', 'amount', 'currency', 'kind', 'references'] as const;

export interface ExportOptions {
  readonly format: 'csv' | 'jsonl';
  /** Inclusive, ISO 8601 UTC. */
  readonly from?: string;
  /** Exclusive, ISO 8601 UTC. */
  readonly to?: string;
}

export async function exportJournal(
  reader: StoreReader,
  options: ExportOptions,
  write: (text: string) => Promise<void>,
  progress: Progress,
): Promise<{ postings: number; withheld: number }> {
  let postings = 0;
  let withheld = 0;
  let read = 0;
  if (options.format === 'csv') await write(`${CSV_COLUMNS.join(',')}\n`);
  for await (const page of pagesByPosition(reader)) {
    const lines: string[] = [];
    for (const event of page) {
      if (options.to !== undefined && event.recordedAt >= options.to) break;
      if (!inLedger(event) || (options.from !== undefined && event.recordedAt < options.from)) continue;
      for (const posting of storedJournalPostings(event)) {
        const filtered = filterReferences(posting.references);
        withheld += filtered.withheld;
        const row = {
          position: event.position.toString(),
          stream: event.streamId,
          revision: event.revision.toString(),
          entry_id: printable(posting.entryId),
          recorded_at: event.recordedAt,
          account_id: posting.accountId,
          side: posting.side,
          amount: posting.amount,
          currency: posting.currency,
          kind: printable(posting.kind),
          references: filtered.references,
        };
        lines.push(options.format === 'jsonl' ? JSON.stringify(row) : CSV_COLUMNS.map((column) => csvField(column === 'references' ? canonicalJson(row.references) : row[column])).join(','));
        postings++;
      }
    }
    if (lines.length > 0) await write(`${lines.join('\n')}\n`);
    read += page.length;
    progress.tick(() => `export: ${read} events read, ${postings} postings written`);
    // recordedAt never goes backwards along positions, so nothing later can be in range.
    if (options.to !== undefined && page[page.length - 1].recordedAt >= options.to) break;
  }
  return { postings, withheld };
}

function inLedger(event: RecordedEvent): boolean {
  return shardOfStream(event.streamId) !== undefined;
}

/** A leading = + - @ TAB or CR makes a spreadsheet read the cell as a formula (CSV injection). */
const FORMULA_START = /^[=+\-@\t\r]/;

/** RFC 4180 quoting; a cell a spreadsheet would read as a formula gets a leading `'` and is quoted (OWASP's defence; JSONL stays exact). */
function csvField(value: string): string {
  const cell = FORMULA_START.test(value) ? `'${value}` : value;
  return cell !== value || /[",\n\r]/.test(cell) ? `"${cell.replaceAll('"', '""')}"` : cell;
}
