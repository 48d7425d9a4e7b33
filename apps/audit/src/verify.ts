// `verify`: every invariant over the whole history, and every projection equal to a rebuild.
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RecordedEvent } from '@ledger/contracts';
import { printable } from './card-number-filter';
import { checkChains } from './chain-check';
import { liveProjectionCheckpoints, relayCheckpointViolations, storeCheckpointProblem } from './checkpoint-check';
import { Findings, type Progress } from './findings';
import { isStoreTime } from './iso-time';
import { LedgerInvariants } from './ledger-invariants';
import { dataDirNotes, PROJECTION_FILES } from './projection-files';
import { compareProjections, REBUILD_PAGE_EVENTS, type RebuildStats } from './rebuild';
import { joinRebuild, rebuildInWorker, type WorkerRebuild } from './rebuild-worker';
import { schemaViolations } from './schema-check';
import { SnapshotCheck } from './snapshot-check';
import { checkUserSnapshots } from './user-snapshot-check';
import { currentHeadPosition, isUnavailable, openReadOnly } from './sqlite-store-reader';
import { pagesByPosition } from './store-reader.port';
import type { StoreReader } from './store-reader.port';

export interface VerifyResult {
  readonly findings: Findings;
  readonly events: number;
  readonly chainMs: number;
  readonly logMs: number;
  readonly compareMs: number;
}

/**
 * The rebuild runs on a worker thread with its own connection to `storeFile` (the reader's file),
 * in parallel with the chain and ledger checks here. `observe` is told after each event of the
 * position-order pass (the bench samples memory with it).
 */
export async function verify(
  reader: StoreReader,
  storeFile: string,
  dataDir: string,
  progress: Progress,
  observe: (eventsRead: number) => void = () => undefined,
): Promise<VerifyResult> {
  const findings = new Findings();
  for (const note of dataDirNotes(dataDir)) findings.note(note);
  for (const violation of schemaViolations(dataDir)) findings.violation({ check: 'schema', ...violation });
  const scratch = mkdtempSync(join(tmpdir(), 'ledger-audit-'));
  let worker: RebuildAlongside | undefined;
  try {
    // Rows and checkpoint of a file as of one moment: a running host's runners move on while the audit reads.
    const live = snapshotProjectionFiles(dataDir, join(scratch, 'live'));
    const through = byFile(await projectionCheckpoints(live, storeFile, findings));
    // Started before the chain check, so it runs alongside that too.
    worker = new RebuildAlongside(storeFile, scratch, through);
    const chainStarted = performance.now();
    await checkChains(reader, findings, progress);
    const chainMs = performance.now() - chainStarted;
    const checks = new LogChecks(findings, observe, new SnapshotCheck(dataDir));
    const rebuilt = await worker.checkThenJoin(reader, checks, findings, progress);
    checks.finish();
    // From the copy taken with the other projection files: the live file moves on while a host runs.
    for (const note of await checkUserSnapshots(live, reader, (violation) => findings.violation({ check: 'snapshot', ...violation }))) findings.note(note);
    for (const [file, count] of rebuilt.behind ?? []) {
      const { name, position } = through.get(file)!;
      if (count > 0) findings.note(`${file}: projection ${name} at position ${position}, ${count} of its events behind the store (its runner had not applied them yet; it does as it runs, or at the next start): compared with a rebuild to position ${position}`);
    }
    // The head now: the reader sees the store as of its opening, and a running host's relays have moved on since.
    for (const violation of await relayCheckpointViolations(dataDir, () => currentHeadPosition(storeFile))) findings.violation({ check: 'checkpoint', ...violation });
    const logMs = performance.now() - chainStarted - chainMs;
    const compareStarted = performance.now();
    progress.tick(() => 'comparing projections');
    compareProjections(dataDir, scratch, findings, rebuilt.failedFiles, (file) => (existsSync(join(live, file)) ? join(live, file) : join(dataDir, file)));
    return { findings, events: checks.events, chainMs, logMs, compareMs: performance.now() - compareStarted };
  } finally {
    await worker?.stop();
    rmSync(scratch, { recursive: true, force: true });
  }
}

/**
 * Copies each known projection file of `dataDir` that is a database into `into` (VACUUM INTO: one
 * read transaction, so rows and checkpoint agree); answers `into`. A file that is not a database is
 * left for the comparison to name.
 */
function snapshotProjectionFiles(dataDir: string, into: string): string {
  mkdirSync(into);
  for (const { file } of PROJECTION_FILES) {
    if (!existsSync(join(dataDir, file))) continue;
    const db = openReadOnly(join(dataDir, file));
    try {
      db.prepare('VACUUM INTO ?').run(join(into, file));
    } catch (error) {
      if (isUnavailable(error)) throw error;
      rmSync(join(into, file), { force: true });
    } finally {
      db.close();
    }
  }
  return into;
}

type LiveCheckpoint = ReturnType<typeof liveProjectionCheckpoints>[number];

/**
 * The live projections' checkpoints; one beyond the store's head (read after them: a live store
 * only grows) is a violation, as its runner refuses to start on it.
 */
async function projectionCheckpoints(dataDir: string, storeFile: string, findings: Findings): Promise<LiveCheckpoint[]> {
  const checkpoints = liveProjectionCheckpoints(dataDir);
  const head = await currentHeadPosition(storeFile);
  return checkpoints.filter(({ file, name, position }) => {
    if (position <= head) return true;
    findings.violation({ check: 'projection', message: `${file}: projection ${name} at position ${position}, beyond the store's head ${head} (its runner refuses to start)` });
    return false;
  });
}

/**
 * By file: each projection is compared with a rebuild to its own checkpoint. A runner commits rows
 * and checkpoint together, so a file behind the store (its host SIGKILLed before the runner caught
 * up, which it does on start) is sound as far as it goes.
 */
function byFile(checkpoints: readonly LiveCheckpoint[]): Map<string, LiveCheckpoint> {
  return new Map(checkpoints.map((checkpoint) => [checkpoint.file, checkpoint]));
}

/** The rebuild on a worker thread while this thread runs the checks over its own position-order pass. */
class RebuildAlongside {
  private rebuiltEvents = 0;
  /** Its violations join the run's findings when it is done, after the checks' own (the order of a one-pass run). */
  private readonly findings = new Findings();
  private readonly worker: WorkerRebuild;

  constructor(storeFile: string, outDir: string, through: ReadonlyMap<string, LiveCheckpoint>) {
    const positions = new Map([...through.values()].map(({ name, position }) => [name, position]));
    this.worker = rebuildInWorker({ storeFile, outDir, through: positions }, this.findings, (events) => (this.rebuiltEvents = events));
  }

  async checkThenJoin(reader: StoreReader, checks: LogChecks, findings: Findings, progress: Progress): Promise<RebuildStats> {
    const head = await reader.headPosition();
    for await (const page of pagesByPosition(reader, REBUILD_PAGE_EVENTS)) {
      for (const event of page) checks.check(event);
      progress.tick(() => `checked ${checks.events} of ${head} events; rebuilt ${this.rebuiltEvents}`);
    }
    const rebuilt = await joinRebuild(this.worker, () => this.rebuiltEvents, head, progress);
    findings.absorb(this.findings.violations, this.findings.count);
    return rebuilt;
  }

  stop(): Promise<void> {
    return this.worker.stop();
  }
}

/** The checks of the position-order pass: positions and commit times, and the ledger's invariants. */
class LogChecks {
  private readonly ledger = new LedgerInvariants();
  private readonly order = new PositionOrder();
  events = 0;

  constructor(
    private readonly findings: Findings,
    private readonly observe: (eventsRead: number) => void,
    private readonly snapshots: SnapshotCheck,
  ) {}

  check(event: RecordedEvent): void {
    this.order.check(event, this.findings);
    this.ledger.check(event, (violation) => this.findings.violation({ check: 'ledger', ...violation }));
    const checkpoint = storeCheckpointProblem(event);
    if (checkpoint !== undefined) this.findings.violation({ check: 'checkpoint', streamId: event.streamId, revision: event.revision, position: event.position, message: checkpoint });
    this.snapshots.afterEvent(event, (shard) => this.ledger.stateOf(shard), (violation) => this.findings.violation({ check: 'snapshot', ...violation }));
    this.observe(++this.events);
  }

  finish(): void {
    const snapshotNotes = this.snapshots.finish((violation) => this.findings.violation({ check: 'snapshot', ...violation }));
    for (const note of [...this.ledger.notes(), ...snapshotNotes]) this.findings.note(note);
  }
}

/**
 * How far a commit time may lie before the event's own time (`data.atMs`, inside the hash chain): the writer decides
 * with the clock, then the store commits with the same clock clamped forward, so only the clock stepping back between
 * the two puts it earlier. Beyond it, the commit time was moved (into an earlier statement period, say).
 */
export const CLOCK_STEP_TOLERANCE_MS = 1_000;

/** Global positions 1, 2, 3, ... with no gap, and commit times that never go backwards nor before their event's time. */
class PositionOrder {
  private previous = 0n;
  private previousRecordedAt = '';
  /** The current commit time parsed. */
  private recordedAtMs = Number.NaN;

  check(event: RecordedEvent, findings: Findings): void {
    const place = { streamId: event.streamId, revision: event.revision, position: event.position };
    if (event.position !== this.previous + 1n) {
      const message = event.position > this.previous + 1n ? `positions ${this.previous + 1n}..${event.position - 1n} are missing` : `position out of order`;
      findings.violation({ ...place, check: 'position', message });
    }
    // A batch shares its commit time: each distinct one is checked and parsed once.
    if (event.recordedAt !== this.previousRecordedAt) {
      // ISO 8601 UTC strings of one format compare as times: every command compares them as text.
      if (!isStoreTime(event.recordedAt)) findings.violation({ ...place, check: 'position', message: `recordedAt ${printable(event.recordedAt)} is not a time in the store's form (UTC, milliseconds)` });
      this.recordedAtMs = Date.parse(event.recordedAt);
    }
    const atMs = (event.data as { atMs?: unknown } | null)?.atMs;
    if (typeof atMs === 'number' && Number.isSafeInteger(atMs) && atMs >= 0 && this.recordedAtMs < atMs - CLOCK_STEP_TOLERANCE_MS) {
      const message = `recordedAt ${printable(event.recordedAt)} is before the event's own time (atMs ${new Date(atMs).toISOString()}): it was committed after it was decided`;
      findings.violation({ ...place, check: 'position', message });
    }
    if (event.recordedAt < this.previousRecordedAt) {
      findings.violation({ ...place, check: 'position', message: `recordedAt ${event.recordedAt} is before the previous event's ${this.previousRecordedAt}` });
    }
    this.previous = event.position;
    this.previousRecordedAt = event.recordedAt;
  }
}
