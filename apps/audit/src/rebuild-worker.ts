// The rebuild in a worker thread: `verify`'s, in parallel with the checks on the main thread (the
// machine's second CPU), and `replay`'s (for its larger young generation). It reads the store
// through its own read-only connection and rebuilds every projection file into `outDir` with the
// same `rebuildProjections` as a rebuild on the main thread.
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { workerScript } from '@ledger/event-store';
import { Findings, Progress, PROGRESS_INTERVAL_MS, type Violation } from './findings';
import { mergeRebuildParts, partParses, removeRebuildFiles, type RebuildPart } from './projection-files';
import { rebuildProjections, type RebuildStats } from './rebuild';
import type { StoreReader } from './store-reader.port';
import { openSqliteStoreReader, UnreadableEventError } from './sqlite-store-reader';

/**
 * The worker's V8 young generation: a page of parsed events and its buffered rows outlive the
 * default one's scavenges and get copied into the old generation; a larger one took ~10% off a
 * rebuild's CPU time (`node --max-semi-space-size=32` measured on a 314k-event replay).
 */
export const REBUILD_WORKER_YOUNG_GENERATION_MIB = 96;

/**
 * Rebuilds side by side in `replay` (its main thread is idle; `verify` keeps one rebuild, its
 * checks use the other CPU): the machine's CPUs, each rebuilding part of the wallet-ledger's shards.
 */
export const REPLAY_REBUILD_PARTS = 2;

interface Job {
  readonly storeFile: string;
  readonly outDir: string;
  /** This worker rebuilds one part (see ProjectionRebuild); by default everything. */
  readonly part?: RebuildPart;
  /** Projections rebuilt only to a position (see ProjectionRebuild). */
  readonly through?: ReadonlyMap<string, bigint>;
}

/** What the worker posts: a page rebuilt (events so far), the end, or its failure. */
type Report =
  | { readonly kind: 'progress'; readonly events: number }
  | { readonly kind: 'done'; readonly events: number; readonly rebuildMs: number; readonly failedFiles: string[]; readonly behind: ReadonlyMap<string, number> | undefined; readonly violations: Violation[]; readonly violationCount: number }
  | { readonly kind: 'failed'; readonly message: string }
  | { readonly kind: 'unreadable'; readonly streamId: string; readonly revision: bigint; readonly position: bigint; readonly reason: string };

export interface WorkerRebuild {
  /** The rebuild's stats once the worker is done (its violations then added to `findings`). */
  readonly result: Promise<RebuildStats>;
  /** Ends the worker (when the caller gives up: its own pass failed). */
  stop(): Promise<void>;
}

/**
 * Rebuilds into `outDir` on a worker thread; its violations (projections that cannot apply an
 * event) are added to `findings` once it is done. `onProgress` hears the events rebuilt so far.
 */
export function rebuildInWorker(job: Job, findings: Findings, onProgress: (events: number) => void): WorkerRebuild {
  const script = workerScript(__dirname, 'rebuild-worker', __filename);
  const worker = new Worker(script.file, {
    workerData: job,
    execArgv: script.execArgv,
    resourceLimits: { maxYoungGenerationSizeMb: REBUILD_WORKER_YOUNG_GENERATION_MIB },
  });
  const result = new Promise<RebuildStats>((resolve, reject) => {
    let settled = false;
    worker.on('message', (report: Report) => {
      if (report.kind === 'progress') return onProgress(report.events);
      settled = true;
      if (report.kind === 'failed') return reject(new Error(`rebuild worker: ${report.message}`));
      // The same error a rebuild on this thread throws, so callers report it the same way.
      if (report.kind === 'unreadable') return reject(new UnreadableEventError(report.streamId, report.revision, report.position, report.reason));
      findings.absorb(report.violations, report.violationCount);
      resolve({ events: report.events, rebuildMs: report.rebuildMs, failedFiles: new Set(report.failedFiles), ...(report.behind === undefined ? {} : { behind: report.behind }) });
    });
    worker.on('error', (error) => {
      settled = true;
      reject(error);
    });
    worker.on('exit', (code) => {
      if (!settled) reject(new Error(`rebuild worker exited with code ${code} before it was done`));
    });
  });
  // Awaited only after the main thread's own pass: a failure meanwhile must not be an unhandled rejection.
  result.catch(() => undefined);
  return {
    result,
    stop: async () => {
      await worker.terminate();
    },
  };
}

/** Waits for a worker's rebuild, printing how far it got (`rebuiltEvents`, as the worker reports it). */
export async function joinRebuild(
  worker: WorkerRebuild,
  rebuiltEvents: () => number,
  head: bigint,
  progress: Progress,
): Promise<RebuildStats> {
  const ticker = setInterval(() => progress.tick(() => `rebuilt ${rebuiltEvents()} of ${head} events`), PROGRESS_INTERVAL_MS);
  try {
    return await worker.result;
  } finally {
    clearInterval(ticker);
  }
}

/**
 * Every projection rebuilt into `outDir` on worker threads reading `storeFile` (a larger young
 * generation there): REPLAY_REBUILD_PARTS parts side by side, then merged. When a part finds a
 * violation, the parts are removed and everything is rebuilt again in one worker, so what is
 * reported is exactly what one rebuild finds. `reader` (of the same file) gives the head for
 * progress; `observe` hears events rebuilt.
 */
export async function rebuildAll(
  reader: StoreReader,
  storeFile: string,
  outDir: string,
  findings: Findings,
  progress: Progress,
  observe: (eventsRebuilt: number) => void = () => undefined,
): Promise<RebuildStats> {
  const startedMs = performance.now();
  const head = await reader.headPosition();
  const count = REPLAY_REBUILD_PARTS;
  let rebuilt = 0;
  const partFindings = Array.from({ length: count }, () => new Findings());
  const parts = partFindings.map((partFinding, index) =>
    rebuildInWorker({ storeFile, outDir, part: { index, count } }, partFinding, (events) => {
      if (index !== 0) return; // every part reads every event: the first one tells how far they got
      rebuilt = events;
      observe(events);
    }),
  );
  const all: WorkerRebuild = { result: Promise.all(parts.map((part) => part.result)).then((stats) => stats[0]), stop: async () => void (await Promise.all(parts.map((part) => part.stop()))) };
  all.result.catch(() => undefined);
  let stats: RebuildStats | undefined;
  try {
    stats = await joinRebuild(all, () => rebuilt, head, progress);
  } catch (error) {
    // Each part parses only some events at read: which unreadable event comes first is the whole rebuild's to say.
    if (!(error instanceof UnreadableEventError)) throw error;
  } finally {
    await all.stop();
  }
  if (stats !== undefined && partFindings.every((partFinding) => partFinding.count === 0) && mergedParts(outDir, count)) {
    return { events: stats.events, rebuildMs: performance.now() - startedMs, failedFiles: new Set() };
  }
  removeRebuildFiles(outDir, count);
  const worker = rebuildInWorker({ storeFile, outDir }, findings, (events) => {
    rebuilt = events;
    observe(events);
  });
  try {
    return await joinRebuild(worker, () => rebuilt, head, progress);
  } finally {
    await worker.stop();
  }
}

/** Merges the parts; false when their rows collide (an account opened on two shards: the whole rebuild names the event). */
function mergedParts(outDir: string, count: number): boolean {
  try {
    mergeRebuildParts(outDir, count);
    return true;
  } catch {
    return false;
  }
}

async function work(job: Job, post: (report: Report) => void): Promise<void> {
  // A part parses at read only the events it is the one to parse (see partParses).
  const reader = openSqliteStoreReader(job.storeFile, job.part === undefined ? {} : { parsesDataAtRead: partParses(job.part) });
  try {
    const findings = new Findings();
    let events = 0;
    // Progress lines are the main thread's: it hears each page through `post`.
    const progress = new Progress(() => undefined);
    const stats = await rebuildProjections(
      reader,
      job.outDir,
      findings,
      progress,
      () => {
        if (++events % REPORT_EVERY_EVENTS === 0) post({ kind: 'progress', events });
      },
      undefined,
      job.part,
      job.through,
    );
    post({ kind: 'done', events: stats.events, rebuildMs: stats.rebuildMs, failedFiles: [...stats.failedFiles], behind: stats.behind, violations: findings.violations, violationCount: findings.count });
  } finally {
    await reader.close();
  }
}

/** How often the worker tells the main thread how far it got. */
const REPORT_EVERY_EVENTS = 20_000;

if (!isMainThread && parentPort !== null && (workerData as Partial<Job> | undefined)?.storeFile !== undefined) {
  const port = parentPort;
  work(workerData as Job, (report) => port.postMessage(report)).catch((error: unknown) => {
    if (error instanceof UnreadableEventError) {
      const { streamId, revision, position, reason } = error;
      port.postMessage({ kind: 'unreadable', streamId, revision, position, reason } satisfies Report);
    } else port.postMessage({ kind: 'failed', message: (error as Error).stack ?? String(error) } satisfies Report);
  });
}
