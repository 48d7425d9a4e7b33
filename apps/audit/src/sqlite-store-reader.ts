// The embedded event store (libs/event-store's SQLite adapter), read through its own file with a
// read-only connection: the audit never takes the write lock and never changes a byte of it.
import Database from 'better-sqlite3';
import { parseJsonText, type EventMetadata, type Json, type RecordedEvent } from '@ledger/contracts';
import { EVENT_COLUMNS, recordedEventOf, type EventRow } from '@ledger/event-store';
import type { StoreReader, StreamHead } from './store-reader.port';

/** The event store schema this reader knows (SQLite `user_version` of libs/event-store). */
const STORE_SCHEMA_VERSION = 1;

interface HeadRow {
  stream_id: string;
  last_revision: bigint;
  last_hash: string;
}

/** A row the audit cannot even parse: the place is named so it can be reported. */
export class UnreadableEventError extends Error {
  constructor(
    readonly streamId: string,
    readonly revision: bigint,
    readonly position: bigint,
    readonly reason: string,
  ) {
    super(`event at ${streamId}@${revision} (position ${position}) is unreadable: ${reason}`);
    this.name = 'UnreadableEventError';
  }
}

export interface StoreReaderOptions {
  /**
   * Which events of the position-order read have their `data` parsed as they are read (an event
   * that is not JSON then fails the read, naming its place); the others parse it when it is first
   * read. All of them by default; a rebuild in parts parses its own part's (see `partParses`).
   */
  readonly parsesDataAtRead?: (streamId: string) => boolean;
}

/** Opens `file` read-only; throws when it is missing or is not an event store of a known schema. */
export function openSqliteStoreReader(file: string, options: StoreReaderOptions = {}): SqliteStoreReader {
  return new SqliteStoreReader(openReadOnly(file), options);
}

/** The store's head now, not as of a reader's opening: for what is read from the live files after it (a running host's relay checkpoints). */
export async function currentHeadPosition(file: string): Promise<bigint> {
  const reader = openSqliteStoreReader(file);
  try {
    return await reader.headPosition();
  } finally {
    await reader.close();
  }
}

/** SQLite error codes of a file that is there but cannot be read now (locked by another process, an I/O error). */
const UNAVAILABLE_CODES = /^SQLITE_(BUSY|LOCKED|IOERR)/;

/** True when `error` says a file cannot be read now (the audit failed), not that the file is not what it should be. */
export function isUnavailable(error: unknown): boolean {
  return UNAVAILABLE_CODES.test(String((error as { code?: unknown } | null)?.code));
}

/** A read-only connection: never creates the file, never writes it (SQLite may add its -shm/-wal beside a WAL file). */
export function openReadOnly(file: string): Database.Database {
  return new Database(file, { readonly: true, fileMustExist: true });
}

export class SqliteStoreReader implements StoreReader {
  private readonly selectHead: Database.Statement<[], { position: bigint }>;
  private readonly selectAll: Database.Statement<[bigint, number], RawEventRow>;
  private readonly selectMetadata: Database.Statement<[bigint], string>;
  private readonly selectStream: Database.Statement<[string, bigint, number], EventRow>;
  private readonly selectStreamIds: PagedByStreamId<{ stream_id: string }>;
  private readonly selectHeads: PagedByStreamId<HeadRow>;
  private readonly selectHeadOf: Database.Statement<[string], HeadRow>;

  private readonly parsesDataAtRead: ((streamId: string) => boolean) | undefined;

  constructor(
    private readonly db: Database.Database,
    options: StoreReaderOptions = {},
  ) {
    this.parsesDataAtRead = options.parsesDataAtRead;
    // One read transaction for the reader's life: every read sees the file as of its opening, so a
    // running host's appends cannot make a stream head read last disagree with the events read before.
    db.exec('BEGIN');
    const version = db.pragma('user_version', { simple: true }) as number;
    if (version !== STORE_SCHEMA_VERSION) {
      db.close();
      throw new Error(`not an event store this audit knows (schema version ${version}, expected ${STORE_SCHEMA_VERSION})`);
    }
    this.selectHead = db.prepare<[], { position: bigint }>('SELECT position FROM events ORDER BY position DESC LIMIT 1').safeIntegers(true);
    // Rows as arrays (no per-row object with keys): the position-order read is the audit's hot loop.
    // Without `metadata` (as long as `data`, and no pass over this read looks at it): fetched by position when asked for.
    this.selectAll = db.prepare<[bigint, number], RawEventRow>(`SELECT ${POSITION_ORDER_COLUMNS} FROM events WHERE position > ? ORDER BY position LIMIT ?`).safeIntegers(true).raw(true);
    this.selectMetadata = db.prepare<[bigint], string>('SELECT metadata FROM events WHERE position = ?').pluck();
    this.selectStream = db
      .prepare<[string, bigint, number], EventRow>(`SELECT ${EVENT_COLUMNS} FROM events WHERE stream_id = ? AND revision >= ? ORDER BY revision LIMIT ?`)
      .safeIntegers(true);
    // DISTINCT over the (stream_id, revision) index: one step per stream, no temp table. The first page has no lower
    // bound: "> ''" left a stream with the empty id (no writer makes one: a forged stream) unchecked.
    this.selectStreamIds = pagedByStreamId(db, 'SELECT DISTINCT stream_id FROM events', 'ORDER BY stream_id');
    this.selectHeads = pagedByStreamId(db, 'SELECT stream_id, last_revision, last_hash FROM streams', 'ORDER BY stream_id', true);
    this.selectHeadOf = db.prepare<[string], HeadRow>('SELECT stream_id, last_revision, last_hash FROM streams WHERE stream_id = ?').safeIntegers(true);
  }

  async headPosition(): Promise<bigint> {
    return this.selectHead.get()?.position ?? 0n;
  }

  async readAll(afterPosition: bigint, maxCount: number): Promise<RecordedEvent[]> {
    const rows = this.selectAll.all(afterPosition, maxCount);
    const events: RecordedEvent[] = new Array(rows.length);
    const parses = this.parsesDataAtRead;
    for (let index = 0; index < rows.length; index++) {
      const row = rows[index];
      assertIntegers(row[1], row[2], row[0], row[5]);
      events[index] = new PositionOrderEvent(row, parses === undefined || parses(row[1]), this.metadataOf);
    }
    return events;
  }

  private readonly metadataOf = (position: bigint): string | undefined => this.selectMetadata.get(position);

  async readStream(streamId: string, fromRevision: bigint, maxCount: number): Promise<RecordedEvent[]> {
    return this.selectStream.all(streamId, fromRevision, maxCount).map(toRecordedEvent);
  }

  async streamIds(afterStreamId: string | undefined, maxCount: number): Promise<string[]> {
    return this.selectStreamIds(afterStreamId, maxCount).map((row) => row.stream_id);
  }

  async streamHead(streamId: string): Promise<StreamHead | undefined> {
    const row = this.selectHeadOf.get(streamId);
    return row === undefined ? undefined : streamHeadOf(row);
  }

  async streamHeads(afterStreamId: string | undefined, maxCount: number): Promise<StreamHead[]> {
    return this.selectHeads(afterStreamId, maxCount).map(streamHeadOf);
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}

/** A read of rows by stream id, a page after `afterStreamId` (from the very first when undefined). */
type PagedByStreamId<Row> = (afterStreamId: string | undefined, maxCount: number) => Row[];

function pagedByStreamId<Row>(db: Database.Database, select: string, order: string, safeIntegers = false): PagedByStreamId<Row> {
  const first = db.prepare<[number], Row>(`${select} ${order} LIMIT ?`).safeIntegers(safeIntegers);
  const after = db.prepare<[string, number], Row>(`${select} WHERE stream_id > ? ${order} LIMIT ?`).safeIntegers(safeIntegers);
  return (afterStreamId, maxCount) => (afterStreamId === undefined ? first.all(maxCount) : after.all(afterStreamId, maxCount));
}

function streamHeadOf(row: HeadRow): StreamHead {
  return { streamId: row.stream_id, lastRevision: row.last_revision, lastHash: row.last_hash };
}

/** The store's own mapping; a row that is not JSON, or whose integers are not integers, is named by its place. */
function toRecordedEvent(row: EventRow): RecordedEvent {
  assertIntegers(row.stream_id, row.revision, row.position, row.schema_version);
  try {
    return recordedEventOf(row);
  } catch (error) {
    throw new UnreadableEventError(row.stream_id, row.revision, row.position, `not JSON (${(error as Error).message})`);
  }
}

/**
 * SQLite keeps a value an INTEGER column cannot convert (4.5, 'x') as it is: such a revision or schemaVersion is the
 * row's fault, named by its place, not a TypeError of the audit mixing it with bigints.
 */
function assertIntegers(streamId: string, revision: unknown, position: bigint, schemaVersion: unknown): void {
  for (const [name, value] of [['revision', revision], ['schema_version', schemaVersion]] as const) {
    if (typeof value !== 'bigint') throw new UnreadableEventError(streamId, typeof revision === 'bigint' ? revision : -1n, position, `its ${name} ${JSON.stringify(value)} is not an integer`);
  }
}

/** The columns of the position-order read: EVENT_COLUMNS but `metadata`. */
const POSITION_ORDER_COLUMNS = EVENT_COLUMNS.split(', ')
  .filter((column) => column !== 'metadata')
  .join(', ');

/** An `events` row as an array, in POSITION_ORDER_COLUMNS order. */
type RawEventRow = [position: bigint, streamId: string, revision: bigint, eventId: string, type: string, schemaVersion: bigint, data: string, recordedAt: string];

/**
 * An event of the position-order read: `data` parsed at once (every pass over it reads it) unless
 * told otherwise, then on first use; `metadata` read by position and parsed on first use (the
 * rebuild and the ledger checks never read it; the chain check reads streams, not this; a
 * statement reads it for its lines). Either not being JSON is an UnreadableEventError naming the place.
 */
class PositionOrderEvent implements RecordedEvent {
  readonly position: bigint;
  readonly streamId: string;
  readonly revision: bigint;
  readonly eventId: string;
  readonly type: string;
  readonly schemaVersion: number;
  readonly recordedAt: string;
  private dataText: string;
  private parsedData: Json | undefined;
  private parsedMetadata: EventMetadata | undefined;

  constructor(
    row: RawEventRow,
    parseData: boolean,
    /** Reads an event's metadata column (by position) when it is first asked for. */
    private readonly metadataOf: (position: bigint) => string | undefined,
  ) {
    this.position = row[0];
    this.streamId = row[1];
    this.revision = row[2];
    this.eventId = row[3];
    this.type = row[4];
    this.schemaVersion = Number(row[5]);
    this.parsedData = parseData ? (parseColumn(row, row[6]) as Json) : undefined;
    this.dataText = parseData ? '' : row[6];
    this.parsedMetadata = undefined;
    this.recordedAt = row[7];
  }

  get data(): Json {
    if (this.parsedData === undefined) {
      this.parsedData = parseColumn([this.position, this.streamId, this.revision], this.dataText) as Json;
      this.dataText = '';
    }
    return this.parsedData;
  }

  get metadata(): EventMetadata {
    if (this.parsedMetadata === undefined) {
      const text = this.metadataOf(this.position);
      if (text === undefined) throw new UnreadableEventError(this.streamId, this.revision, this.position, 'its row is gone from the store');
      this.parsedMetadata = parseColumn([this.position, this.streamId, this.revision], text) as EventMetadata;
    }
    return this.parsedMetadata;
  }
}

function parseColumn(place: readonly [position: bigint, streamId: string, revision: bigint, ...rest: unknown[]], text: string): unknown {
  try {
    return parseJsonText(text);
  } catch (error) {
    throw new UnreadableEventError(place[1], place[2], place[0], `not JSON (${(error as Error).message})`);
  }
}
