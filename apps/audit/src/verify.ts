// `verify`: every invariant over the whole history, and every projection equal to a rebuild.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RecordedEvent } from '@ledger/contracts';
import { checkChains } from './chain-check';
import { Findings, type Progress } from './findings';
import { LedgerInvariants } from './ledger-invariants';
import { dataDirNotes } from './projection-files';
import { compareProjections, rebuildProjections } from './rebuild';
import type { StoreReader } from './store-reader.port';

export interface VerifyResult {
  readonly findings: Findings;
  readonly events: number;
  readonly chainMs: number;
  readonly logMs: number;
  readonly compareMs: number;
}

/** `observe` is told after each event of the position-order pass (the bench samples memory with it). */
export async function verify(reader: StoreReader, dataDir: string, progress: Progress, observe: (eventsRead: number) => void = () => undefined): Promise<VerifyResult> {
  const findings = new Findings();
  for (const note of dataDirNotes(dataDir)) findings.note(note);

  const chainStarted = performance.now();
  await checkChains(reader, findings, progress);
  const chainMs = performance.now() - chainStarted;

  const ledger = new LedgerInvariants();
  const order = new PositionOrder();
  let eventsRead = 0;
  const scratch = mkdtempSync(join(tmpdir(), 'ledger-audit-'));
  try {
    const rebuilt = await rebuildProjections(reader, scratch, findings, progress, (event) => {
      order.check(event, findings);
      ledger.check(event, (violation) => findings.violation({ check: 'ledger', ...violation }));
      observe(++eventsRead);
    });
    for (const note of ledger.notes()) findings.note(note);
    const compareStarted = performance.now();
    progress.tick(() => 'comparing projections');
    compareProjections(dataDir, scratch, findings, rebuilt.failedFiles);
    return { findings, events: rebuilt.events, chainMs, logMs: rebuilt.rebuildMs, compareMs: performance.now() - compareStarted };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

/** Global positions 1, 2, 3, ... with no gap, and commit times that never go backwards. */
class PositionOrder {
  private previous = 0n;
  private previousRecordedAt = '';

  check(event: RecordedEvent, findings: Findings): void {
    const place = { streamId: event.streamId, revision: event.revision, position: event.position };
    if (event.position !== this.previous + 1n) {
      const message = event.position > this.previous + 1n ? `positions ${this.previous + 1n}..${event.position - 1n} are missing` : `position out of order`;
      findings.violation({ ...place, check: 'position', message });
    }
    // ISO 8601 UTC strings of one format compare as times.
    if (event.recordedAt < this.previousRecordedAt) {
      findings.violation({ ...place, check: 'position', message: `recordedAt ${event.recordedAt} is before the previous event's ${this.previousRecordedAt}` });
    }
    this.previous = event.position;
    this.previousRecordedAt = event.recordedAt;
  }
}
