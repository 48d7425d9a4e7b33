// Where a relay keeps the store position it has published up to, by relay name.
import type Database from 'better-sqlite3';
import type { IdGenerator } from '@ledger/contracts';
import { expectedState, GroupCommit, type EventStore } from '@ledger/event-store';

export interface CheckpointStore {
  /** The saved position, or 0n (relay from the start) when none was saved under `name`. */
  load(name: string): Promise<bigint>;
  save(name: string, position: bigint): Promise<void>;
}

/** For tests: forgotten with the process. */
export class InMemoryCheckpointStore implements CheckpointStore {
  private readonly positions = new Map<string, bigint>();

  async load(name: string): Promise<bigint> {
    return this.positions.get(name) ?? 0n;
  }

  async save(name: string, position: bigint): Promise<void> {
    this.positions.set(name, position);
  }
}

/** What `save` writes: digits only (as the audit's checkpoint check reads them). */
const CHECKPOINT_POSITION = /^[0-9]{1,19}$/;

/** One row per relay in `relay_checkpoints`; the position is TEXT so no bigint is ever rounded. */
export class SqliteCheckpointStore implements CheckpointStore {
  private readonly select: Database.Statement<[string], { position: string }>;
  private readonly upsert: Database.Statement<[string, string]>;

  constructor(db: Database.Database) {
    db.exec('CREATE TABLE IF NOT EXISTS relay_checkpoints (name TEXT PRIMARY KEY, position TEXT NOT NULL)');
    this.select = db.prepare<[string], { position: string }>('SELECT position FROM relay_checkpoints WHERE name = ?');
    this.upsert = db.prepare<[string, string]>(
      'INSERT INTO relay_checkpoints (name, position) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET position = excluded.position',
    );
  }

  async load(name: string): Promise<bigint> {
    const row = this.select.get(name);
    if (row === undefined) return 0n;
    // BigInt reads '0x10' as 16 and '' as 0: a relay would skip or replay events on a checkpoint verify calls no position.
    if (!CHECKPOINT_POSITION.test(row.position)) throw new RangeError(`relay checkpoint ${name}: stored position ${JSON.stringify(row.position)} is not a position`);
    return BigInt(row.position);
  }

  async save(name: string, position: bigint): Promise<void> {
    this.upsert.run(name, position.toString());
  }
}

/**
 * Checkpoints kept in the event store itself (stream `checkpoint-{name}`, one event per save), for
 * a follower whose replay from an older position is NOT harmless forever (the transfer saga:
 * in-legs are deduplicated only within the ledger's idempotency window). As durable as the
 * ledger, and never lost with a rebuildable projection file.
 */
export class EventStoreCheckpointStore implements CheckpointStore {
  constructor(
    private readonly store: EventStore,
    private readonly ids: IdGenerator,
    private readonly nowMs: () => number,
  ) {}

  async load(name: string): Promise<bigint> {
    const streamId = checkpointStream(name);
    const revision = await this.store.streamRevision(streamId);
    if (revision === undefined) return 0n;
    const [last] = await this.store.readStream(streamId, { fromRevision: revision, maxCount: 1 });
    return BigInt((last.data as { position: string }).position);
  }

  async save(name: string, position: bigint): Promise<void> {
    const eventId = this.ids.next();
    // Through the store's shared group commit: a save rides in the durable commit of the other appends of its turn.
    await GroupCommit.of(this.store).append({
      streamId: checkpointStream(name),
      events: [
        {
          eventId,
          type: 'checkpoint.Saved.v1',
          schemaVersion: 1,
          data: { position: position.toString() },
          metadata: { correlationId: eventId, causationId: eventId, actor: name, occurredAt: new Date(this.nowMs()).toISOString() },
        },
      ],
      expected: expectedState.any,
    });
  }
}

export function checkpointStream(name: string): string {
  return `checkpoint-${name}`;
}
