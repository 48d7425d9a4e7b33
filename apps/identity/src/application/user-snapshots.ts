// Saved user states (in identity's own SQLite file) that cold loads start from: a user stream
// grows with every login, refresh, logout and failed login, and a state not in memory (after a
// restart, or pushed out of IDENTITY_USER_CACHE_MAX) was folded from its first event each time.
// A cache, never the truth: delete the table and the streams are folded whole. The state holds
// what the stream holds (password and token hashes, sealed TOTP secrets), in the service's own file.
import type Database from 'better-sqlite3';
import type { AggregateSnapshot, AggregateSnapshots } from '@ledger/event-store';
import type { AttemptOutcome, RegisteredUser, Session, UserState } from '../domain/user';

/** Events past the last snapshot before a new one is saved: a cold load folds about this many. */
export const USER_SNAPSHOT_EVERY_EVENTS = 256;
/** The stored form's version, bumped whenever the state or evolve changes: a snapshot of another is not used (the stream is folded). */
const USER_SNAPSHOT_FORMAT = 1;

type StoredUser = Omit<RegisteredUser, 'sessions' | 'attempts'> & { sessions: Session[]; attempts: [string, AttemptOutcome][] };

export class SqliteUserSnapshots implements AggregateSnapshots<UserState> {
  readonly everyEvents = USER_SNAPSHOT_EVERY_EVENTS;
  private readonly select: Database.Statement<[string], { revision: string; event_id: string; body: string }>;
  private readonly upsert: Database.Statement<[string, string, string, string]>;

  constructor(db: Database.Database) {
    db.exec('CREATE TABLE IF NOT EXISTS identity_user_snapshots (stream_id TEXT PRIMARY KEY, revision TEXT NOT NULL, event_id TEXT NOT NULL, body TEXT NOT NULL)');
    this.select = db.prepare('SELECT revision, event_id, body FROM identity_user_snapshots WHERE stream_id = ?');
    this.upsert = db.prepare(
      'INSERT INTO identity_user_snapshots (stream_id, revision, event_id, body) VALUES (?, ?, ?, ?) ON CONFLICT (stream_id) DO UPDATE SET revision = excluded.revision, event_id = excluded.event_id, body = excluded.body',
    );
  }

  async load(streamId: string): Promise<AggregateSnapshot<UserState> | undefined> {
    const row = this.select.get(streamId);
    if (row === undefined || !/^\d{1,19}$/.test(row.revision)) return undefined;
    try {
      const body = JSON.parse(row.body) as { format?: unknown; state?: StoredUser };
      if (body.format !== USER_SNAPSHOT_FORMAT || body.state?.status !== 'registered') return undefined;
      const { sessions, attempts, ...user } = body.state;
      const state: RegisteredUser = { ...user, sessions: new Map(sessions.map((session) => [session.id, session])), attempts: new Map(attempts) };
      return { revision: BigInt(row.revision), eventId: row.event_id, state };
    } catch {
      return undefined; // unreadable: fold the stream
    }
  }

  async save(streamId: string, snapshot: AggregateSnapshot<UserState>): Promise<void> {
    const { state } = snapshot;
    if (state.status !== 'registered') return;
    const stored: StoredUser = { ...state, sessions: [...state.sessions.values()], attempts: [...state.attempts] };
    this.upsert.run(streamId, snapshot.revision.toString(), snapshot.eventId, JSON.stringify({ format: USER_SNAPSHOT_FORMAT, state: stored }));
  }
}
