// `replay` and the projection half of `verify`: rebuild every known projection file into a
// directory from the store, then compare each with the live file of the data dir.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { RecordedEvent } from '@ledger/contracts';
import type { Findings, Progress } from './findings';
import { checkpointCopyFile, PROJECTION_FILES, ProjectionRebuild, REBUILD_COMMIT_EVENTS, type RebuildPart } from './projection-files';
import { describeDifference, diffProjectionFile, type RowDifference } from './projection-diff';
import { isUnavailable } from './sqlite-store-reader';
import { pagesByPosition, type StoreReader } from './store-reader.port';

/** Events per page of a rebuild: one transaction per projection per page. */
export const REBUILD_PAGE_EVENTS = 5_000;

/** How a rebuild reads and commits (the constants; tests pass small ones to cross page and commit bounds). */
export interface RebuildSizes {
  readonly pageEvents: number;
  readonly commitEvents: number;
}

export interface RebuildStats {
  readonly events: number;
  readonly rebuildMs: number;
  /** Files whose rebuild stopped part-way (not worth comparing). */
  readonly failedFiles: ReadonlySet<string>;
  /** Per file rebuilt with a `through` position: how many of its events lie beyond it. */
  readonly behind?: ReadonlyMap<string, number>;
}

/**
 * Reads the whole store once in position order into the rebuild; `observe` hears each event read
 * (the rebuild worker reports its progress with it). Rebuild failures become violations. With
 * `part`, only that part of the files that split (see ProjectionRebuild).
 */
export async function rebuildProjections(
  reader: StoreReader,
  outDir: string,
  findings: Findings,
  progress: Progress,
  observe: (event: RecordedEvent) => void = () => undefined,
  sizes: RebuildSizes = { pageEvents: REBUILD_PAGE_EVENTS, commitEvents: REBUILD_COMMIT_EVENTS },
  part?: RebuildPart,
  through?: ReadonlyMap<string, bigint>,
): Promise<RebuildStats> {
  const startedMs = performance.now();
  const head = await reader.headPosition();
  const rebuild = new ProjectionRebuild(outDir, sizes.commitEvents, part, through);
  let events = 0;
  try {
    for await (const page of pagesByPosition(reader, sizes.pageEvents)) {
      for (const event of page) observe(event);
      rebuild.feed(page);
      const redo = rebuild.takeRedo();
      if (redo !== undefined) {
        for await (const again of pagesByPosition(reader, sizes.pageEvents, redo.afterPosition, redo.throughPosition)) rebuild.feedAgain(redo, again);
      }
      events += page.length;
      progress.tick(() => `read ${events} of ${head} events (${((100 * events) / Math.max(1, Number(head))).toFixed(0)}%)`);
    }
  } finally {
    rebuild.close();
  }
  for (const failure of rebuild.failures) {
    const { event } = failure;
    findings.violation({
      check: 'projection',
      streamId: event.streamId,
      revision: event.revision,
      position: event.position,
      message: `${failure.file}: projection ${failure.projection} cannot apply this event (${failure.message}); its rebuild stops here`,
    });
  }
  return { events, rebuildMs: performance.now() - startedMs, failedFiles: new Set(rebuild.failures.map((failure) => failure.file)), behind: rebuild.behind() };
}

export interface FileComparison {
  readonly file: string;
  readonly differences: readonly RowDifference[];
  readonly counts: ReadonlyMap<string, number>;
}

/** Compares each rebuilt file in `outDir` with the live one in `dataDir`; differences become violations. */
export function compareProjections(
  dataDir: string,
  outDir: string,
  findings: Findings,
  failedFiles: ReadonlySet<string>,
  /** Where the live file is read (verify: a copy taken in one read, see verify.ts). */
  liveOf: (file: string) => string = (file) => join(dataDir, file),
): FileComparison[] {
  const comparisons: FileComparison[] = [];
  for (const { file, projections } of PROJECTION_FILES) {
    const live = liveOf(file);
    if (!existsSync(live)) continue;
    if (failedFiles.has(file)) {
      findings.note(`${file}: not compared (its rebuild failed, see above)`);
      continue;
    }
    let result: ReturnType<typeof diffProjectionFile>;
    // A live file behind the store is held against the rebuild as it stood at its checkpoint.
    const atCheckpoint = checkpointCopyFile(outDir, file);
    try {
      result = diffProjectionFile(live, existsSync(atCheckpoint) ? atCheckpoint : join(outDir, file), projections.map((projection) => projection.name));
    } catch (error) {
      // A live file that is not a database (or is corrupt) is that file's violation; one locked now is the audit failing.
      if (isUnavailable(error)) throw error;
      findings.violation({ check: 'projection', message: `${file}: the live file cannot be read (${(error as Error).message}), not compared` });
      continue;
    }
    for (const note of result.notes) findings.note(`${file}: ${note}`);
    for (const difference of result.differences) findings.violation({ check: 'projection', position: positionOf(difference), message: describeDifference(file, difference) });
    for (const [table, count] of result.counts) {
      const reported = result.differences.filter((difference) => difference.table === table).length;
      if (count > reported) findings.violation({ check: 'projection', message: `${file} ${table}: ${count - reported} more differing rows not listed` });
    }
    comparisons.push({ file, differences: result.differences, counts: result.counts });
  }
  return comparisons;
}

/** The event a differing row points at, when its table records positions (the rebuild's value first). */
function positionOf(difference: RowDifference): bigint | undefined {
  const changed = difference.columns.filter((column) => /(^|_)position$/.test(column.column)).map((column) => column.rebuilt ?? column.live);
  const candidate = [difference.key.position, ...changed].find((value) => typeof value === 'string' && /^[0-9]{1,19}$/.test(value));
  return candidate === undefined || candidate === null ? undefined : BigInt(candidate);
}
