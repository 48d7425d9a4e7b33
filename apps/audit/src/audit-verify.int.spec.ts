// Mutation tests: a real wallet-ledger data dir, tampered with one way at a time; `verify`, run
// as the CLI in a child process, must exit 1 and name the place, and exit 0 on the untouched copy.
import Database from 'better-sqlite3';
import { createHash } from 'node:crypto';
import { copyFileSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { spawnTs } from '@ledger/contracts/testing';
import { chainHash } from '@ledger/event-store';
import { SqliteSnapshotStore } from '../../wallet-ledger/src/application/snapshot-store';
import { userEventOf } from '../../identity/src/application/user-repository';
import { SqliteUserSnapshots } from '../../identity/src/application/user-snapshots';
import { evolve, initialState } from '../../identity/src/domain/user';
import { buildFixture, copyDataDir, type AuditFixture } from './testing/audit-fixture';

const MAIN = join(__dirname, 'main.ts');

let fixture: AuditFixture;
const copies: string[] = [];

beforeAll(async () => {
  fixture = await buildFixture();
}, 60_000);

afterAll(() => {
  for (const dir of [fixture?.dataDir, ...copies]) if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

function copy(): string {
  const dir = copyDataDir(fixture);
  copies.push(dir);
  return dir;
}

async function audit(args: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawnTs(MAIN, args, { env });
  const { code } = await child.exited;
  return { code, stdout: child.stdout(), stderr: child.stderr() };
}

interface Row {
  position: number;
  stream_id: string;
  revision: number;
  event_id: string;
  type: string;
  data: string;
  metadata: string;
}

/** Wallet a credited a million more in shard 0's snapshot, its revision and head changed as asked; answers the revision it had. */
function forgeSnapshot(dir: string, revision?: string, head: (body: { parts: number; lastEventHash: string | null }) => void = () => undefined): string {
  const snapshots = new Database(join(dir, 'snapshots.sqlite'));
  try {
    const part = snapshots.prepare('SELECT part, body FROM ledger_snapshot_parts WHERE shard = 0 AND body LIKE ?').get(`%${fixture.wallets.a}%`) as { part: number; body: string };
    const body = JSON.parse(part.body) as { accounts: (string | number | null)[][] };
    const row = body.accounts.find((account) => account[0] === fixture.wallets.a)!;
    row[9] = String(BigInt(row[9] as string) + 1_000_000n);
    snapshots.prepare('UPDATE ledger_snapshot_parts SET body = ? WHERE shard = 0 AND part = ?').run(JSON.stringify(body), part.part);
    const stored = snapshots.prepare('SELECT revision, body FROM ledger_snapshots WHERE shard = 0').get() as { revision: string; body: string };
    const headBody = JSON.parse(stored.body) as { parts: number; lastEventHash: string | null };
    head(headBody);
    snapshots.prepare('UPDATE ledger_snapshots SET revision = ?, body = ? WHERE shard = 0').run(revision ?? stored.revision, JSON.stringify(headBody));
    return stored.revision;
  } finally {
    snapshots.close();
  }
}

function withStore<T>(dataDir: string, change: (db: Database.Database) => T): T {
  const db = new Database(join(dataDir, 'events.sqlite'));
  try {
    return change(db);
  } finally {
    db.close();
  }
}

function eventsOf(db: Database.Database, streamId: string): Row[] {
  return db.prepare('SELECT * FROM events WHERE stream_id = ? ORDER BY revision').all(streamId) as Row[];
}

/** The first transfer entry on shard 0 (a to b), in the middle of the stream. */
function transferRow(db: Database.Database): Row {
  const row = eventsOf(db, 'ledger-0').find((each) => each.type === 'ledger.EntryPosted.v1' && JSON.parse(each.data).kind === 'transfer');
  if (row === undefined) throw new Error('fixture has no transfer on ledger-0');
  return row;
}

const place = (row: Pick<Row, 'stream_id' | 'revision' | 'position'>) => `stream=${row.stream_id} revision=${row.revision} position=${row.position}`;

/** Replaces the stream's events `edit` returns new data (and type) for, and seals the chain again to its end and recorded head. */
function reseal(db: Database.Database, streamId: string, edit: (row: Row, data: Record<string, unknown>) => { type?: string; data: Record<string, unknown> } | undefined): Row[] {
  const rows = db.prepare('SELECT * FROM events WHERE stream_id = ? ORDER BY revision').all(streamId) as (Row & { schema_version: number })[];
  let prevHash = JSON.parse(rows[0].metadata).prevHash as string;
  const edited: Row[] = [];
  for (const row of rows) {
    const changed = edit(row, JSON.parse(row.data));
    if (changed !== undefined) edited.push(row);
    const { type = row.type, data } = changed ?? { data: JSON.parse(row.data) };
    const hash = chainHash(prevHash, { type, schemaVersion: row.schema_version, data });
    db.prepare('UPDATE events SET type = ?, data = ?, metadata = ? WHERE position = ?').run(type, JSON.stringify(data), JSON.stringify({ ...JSON.parse(row.metadata), prevHash, hash }), row.position);
    prevHash = hash;
  }
  db.prepare('UPDATE streams SET last_hash = ? WHERE stream_id = ?').run(prevHash, streamId);
  return edited;
}

/** The live projection file's tables replaced by a rebuild's over the (tampered) store: projections that agree with it. */
async function adoptRebuild(dir: string, file: string): Promise<void> {
  const out = join(copy(), 'rebuilt');
  await audit(['replay', '--out', out, '--data-dir', dir]);
  const db = new Database(join(dir, file));
  try {
    db.prepare('ATTACH DATABASE ? AS rebuilt').run(join(out, file));
    const tables = db.prepare("SELECT name FROM rebuilt.sqlite_master WHERE type = 'table'").all() as { name: string }[];
    db.transaction(() => {
      for (const { name } of tables) db.exec(`DELETE FROM main."${name}"; INSERT INTO main."${name}" SELECT * FROM rebuilt."${name}";`);
    })();
  } finally {
    db.close();
  }
}

/**
 * The live `file` replaced by a rebuild of the store without its last `drop` events of streams `prefix`: the file a host
 * SIGKILLed before its runner applied them leaves (rows and checkpoint are committed together). Answers the store's head and the file's checkpoint.
 */
async function rebuildBehind(dir: string, file: string, prefix: string, drop: number): Promise<{ head: number; checkpoint: number }> {
  const truncated = copy();
  const head = withStore(truncated, (db) => {
    const last = db.prepare('SELECT position FROM events WHERE stream_id LIKE ? ORDER BY position DESC LIMIT ?').all(`${prefix}%`, drop) as { position: number }[];
    db.prepare('DELETE FROM events WHERE position >= ?').run(last[last.length - 1].position);
    return (db.prepare('SELECT MAX(position) AS head FROM events').get() as { head: number }).head;
  });
  await adoptRebuild(truncated, file);
  copyFileSync(join(truncated, file), join(dir, file));
  const projection = new Database(join(dir, file), { readonly: true });
  const { position } = projection.prepare("SELECT position FROM checkpoints WHERE name = 'wallet-ledger'").get() as { position: number };
  projection.close();
  expect(position).toBeLessThanOrEqual(head);
  return { head: withStore(dir, (db) => (db.prepare('SELECT MAX(position) AS head FROM events').get() as { head: number }).head), checkpoint: position };
}

/** The shard writers' snapshots dropped (a cache: a writer restarts from its stream) and the ledger's projection rebuilt: only the streams tell. */
async function agreeWithTheStreams(dir: string): Promise<void> {
  const snapshots = new Database(join(dir, 'snapshots.sqlite'));
  snapshots.exec('DELETE FROM ledger_snapshots; DELETE FROM ledger_snapshot_parts;');
  snapshots.close();
  await adoptRebuild(dir, 'wallet-ledger.sqlite');
}

describe('ledger-audit verify', () => {
  it('exits 0 on the untouched store, and never changes a byte of the data dir', async () => {
    const dir = copy();
    const digest = (file: string) => createHash('sha256').update(readFileSync(join(dir, file))).digest('hex');
    const files = ['events.sqlite', 'wallet-ledger.sqlite', 'identity.sqlite', 'card-issuer.sqlite'];
    const before = files.map(digest);
    const result = await audit(['verify', '--data-dir', dir]);
    expect(result).toMatchObject({ code: 0 });
    expect(result.stdout).toContain('verify: clean');
    // Every service's projection was compared; what is not a projection is named, not compared.
    expect(result.stdout).not.toContain('identity.sqlite: not in the data dir');
    expect(result.stdout).not.toMatch(/card-issuer\.sqlite: (not in the data dir|unknown file)/);
    expect(result.stdout).toContain('note: card-issuer.sqlite: table processed_events is not built from events (not compared)');
    expect(result.stdout).toContain("note: snapshots.sqlite: the shard writers' snapshots, each compared with its stream folded to its revision");
    expect(files.map(digest)).toEqual(before);
  });

  it("names the event whose data was edited (its hash no longer matches)", async () => {
    const dir = copy();
    const row = withStore(dir, (db) => {
      const target = transferRow(db);
      const data = JSON.parse(target.data);
      data.postings = data.postings.map((posting: { amount: string }) => ({ ...posting, amount: '999' }));
      db.prepare('UPDATE events SET data = ? WHERE position = ?').run(JSON.stringify(data), target.position);
      return target;
    });
    const result = await audit(['verify', '--data-dir', dir]);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(new RegExp(`VIOLATION \\[chain\\] ${place(row)}: event ${row.event_id}: hash .* does not match the event's content`));
  });

  it('names the gap a dropped event leaves', async () => {
    const dir = copy();
    const row = withStore(dir, (db) => {
      const target = transferRow(db);
      db.prepare('DELETE FROM events WHERE position = ?').run(target.position);
      return target;
    });
    const result = await audit(['verify', '--data-dir', dir]);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain(`[chain] stream=ledger-0 revision=${row.revision + 1} position=${row.position + 1}: revisions ${row.revision}..${row.revision} are missing`);
    expect(result.stdout).toContain(`[position] stream=ledger-0 revision=${row.revision + 1} position=${row.position + 1}: positions ${row.position}..${row.position} are missing`);
  });

  it('names the place where two events were swapped', async () => {
    const dir = copy();
    const [first, second] = withStore(dir, (db) => {
      const target = transferRow(db);
      const next = eventsOf(db, 'ledger-0').find((each) => each.revision === target.revision + 1)!;
      const swap = db.prepare('UPDATE events SET event_id = ?, type = ?, data = ?, metadata = ? WHERE position = ?');
      db.transaction(() => {
        swap.run('swapping', next.type, next.data, next.metadata, target.position);
        swap.run(target.event_id, target.type, target.data, target.metadata, next.position);
        db.prepare('UPDATE events SET event_id = ? WHERE position = ?').run(next.event_id, target.position);
      })();
      return [target, next];
    });
    const result = await audit(['verify', '--data-dir', dir]);
    expect(result.code).toBe(1);
    // Revision r now holds the later event, sealed onto r itself: its prevHash breaks the chain there.
    expect(result.stdout).toContain(`[chain] ${place(first)}: event ${second.event_id}: prevHash`);
  });

  it("names a commit time not in the store's form (recordedAt is outside the hash chain, and compared as text)", async () => {
    const dir = copy();
    const last = withStore(dir, (db) => {
      const row = db.prepare('SELECT * FROM events ORDER BY position DESC LIMIT 1').get() as Row & { recorded_at: string };
      // Still sorts after every commit time before it, so the order check alone lets it through.
      db.prepare('UPDATE events SET recorded_at = ? WHERE position = ?').run(`${row.recorded_at.slice(0, 19)}+00:00`, row.position);
      return row;
    });
    const result = await audit(['verify', '--data-dir', dir]);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain(`VIOLATION [position] ${place(last)}: recordedAt ${last.recorded_at.slice(0, 19)}+00:00 is not a time in the store's form (UTC, milliseconds)`);
  });

  it("names a commit time moved before the event's own time (a transfer moved into an earlier statement period)", async () => {
    const dir = copy();
    const moved = withStore(dir, (db) => {
      const target = transferRow(db);
      const before = db.prepare('SELECT recorded_at FROM events WHERE position = ?').get(target.position - 1) as { recorded_at: string };
      // Its commit time set to the event before it's: the order still holds, and the top-ups' period now has the transfer.
      db.prepare('UPDATE events SET recorded_at = ? WHERE position = ?').run(before.recorded_at, target.position);
      return { ...target, recordedAt: before.recorded_at, atMs: JSON.parse(target.data).atMs as number };
    });
    // The projection (which keeps commit times) recomputed too, so only the time itself can give it away.
    await adoptRebuild(dir, 'wallet-ledger.sqlite');
    const result = await audit(['verify', '--data-dir', dir]);
    expect(result.stdout.match(/^VIOLATION /gm)).toHaveLength(1);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain(`VIOLATION [position] ${place(moved)}: recordedAt ${moved.recordedAt} is before the event's own time (atMs ${new Date(moved.atMs).toISOString()}): it was committed after it was decided`);
  });

  it('names a forged event appended with a valid-looking hash that a projection went past without applying; one past its checkpoint is only noted (the runner applies it on start)', async () => {
    const dir = copy();
    const forged = withStore(dir, (db) => {
      const rows = eventsOf(db, 'ledger-0');
      const last = rows[rows.length - 1];
      const topUp = rows.find((each) => each.type === 'ledger.EntryPosted.v1' && JSON.parse(each.data).kind === 'top_up')!;
      const data = { ...JSON.parse(topUp.data), entryId: 'forged-entry', idempotencyKey: 'forged-key', references: {} };
      data.postings = data.postings.map((posting: object) => ({ ...posting, amount: '1000000' }));
      const event = { type: 'ledger.EntryPosted.v1', schemaVersion: 1, data };
      const prevHash = JSON.parse(last.metadata).hash as string;
      const hash = chainHash(prevHash, event);
      const head = db.prepare('SELECT MAX(position) AS position, MAX(recorded_at) AS recordedAt FROM events').get() as { position: number; recordedAt: string };
      const metadata = { ...JSON.parse(last.metadata), idempotencyKey: 'forged-key', prevHash, hash };
      const position = head.position + 1;
      const checkpoint = (db.prepare("SELECT MAX(position) AS position FROM events WHERE stream_id LIKE 'ledger-%'").get() as { position: number }).position;
      db.transaction(() => {
        db.prepare('INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)').run(
          position, 'ledger-0', last.revision + 1, 'forged-event', event.type, 1, JSON.stringify(data), JSON.stringify(metadata), head.recordedAt,
        );
        db.prepare('UPDATE streams SET last_revision = ?, last_hash = ? WHERE stream_id = ?').run(last.revision + 1, hash, 'ledger-0');
      })();
      return { position, checkpoint, creditedWallet: data.postings.find((posting: { side: string }) => posting.side === 'credit').accountId as string };
    });
    // Past the projection's checkpoint it is what a host killed before its runner applied it leaves: only noted.
    const behind = await audit(['verify', '--data-dir', dir]);
    expect({ code: behind.code, violations: behind.stdout.match(/^VIOLATION .*$/gm) }).toEqual({ code: 0, violations: null });
    expect(behind.stdout).toContain(`note: wallet-ledger.sqlite: projection wallet-ledger at position ${forged.checkpoint}, 1 of its events behind the store`);
    // A projection that went past it (its runner read it) and never applied it names it.
    const projection = new Database(join(dir, 'wallet-ledger.sqlite'));
    projection.prepare("UPDATE checkpoints SET position = ? WHERE name = 'wallet-ledger'").run(forged.position);
    projection.close();
    const result = await audit(['verify', '--data-dir', dir]);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain(`wallet-ledger.sqlite accounts [account_id=${forged.creditedWallet}]: credits_posted live 10500, rebuilt 1010500; last_position live 18, rebuilt ${forged.position}`);
  });

  it('names the event a projection cannot apply, and does not compare the file whose rebuild stopped there', async () => {
    const dir = copy();
    const forged = withStore(dir, (db) => {
      const rows = eventsOf(db, 'ledger-0');
      const last = rows[rows.length - 1];
      // Sealed onto the chain, so only the rebuild (and the ledger check) can object to it.
      const event = { type: 'ledger.Bogus.v1', schemaVersion: 1, data: { atMs: 0 } };
      const prevHash = JSON.parse(last.metadata).hash as string;
      const hash = chainHash(prevHash, event);
      const head = db.prepare('SELECT MAX(position) AS position, MAX(recorded_at) AS recordedAt FROM events').get() as { position: number; recordedAt: string };
      const metadata = { ...JSON.parse(last.metadata), prevHash, hash };
      const position = head.position + 1;
      db.transaction(() => {
        db.prepare('INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)').run(
          position, 'ledger-0', last.revision + 1, 'bogus-event', event.type, 1, JSON.stringify(event.data), JSON.stringify(metadata), head.recordedAt,
        );
        db.prepare('UPDATE streams SET last_revision = ?, last_hash = ? WHERE stream_id = ?').run(last.revision + 1, hash, 'ledger-0');
      })();
      return { revision: last.revision + 1, position };
    });
    const result = await audit(['verify', '--data-dir', dir]);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain(
      `VIOLATION [projection] ${place({ stream_id: 'ledger-0', ...forged })}: wallet-ledger.sqlite: projection wallet-ledger cannot apply this event (wallet-ledger projection: unknown event type ledger.Bogus.v1`,
    );
    expect(result.stdout).toContain('note: wallet-ledger.sqlite: not compared (its rebuild failed, see above)');
  });

  it("names a shard writer's snapshot that differs from its stream folded to the snapshot's revision (the writer restarts from it)", async () => {
    const dir = copy();
    const snapshots = new Database(join(dir, 'snapshots.sqlite'));
    const { shard, revision } = snapshots.prepare('SELECT shard, revision FROM ledger_snapshots WHERE shard = 0').get() as { shard: number; revision: string };
    // Wallet a credited a million more: a restarted writer would let it spend money the stream never gave it.
    const part = snapshots.prepare('SELECT part, body FROM ledger_snapshot_parts WHERE shard = ? AND body LIKE ?').get(shard, `%${fixture.wallets.a}%`) as { part: number; body: string };
    const body = JSON.parse(part.body) as { accounts: (string | number | null)[][] };
    const row = body.accounts.find((account) => account[0] === fixture.wallets.a)!;
    const credits = row[9];
    row[9] = String(BigInt(row[9] as string) + 1_000_000n);
    snapshots.prepare('UPDATE ledger_snapshot_parts SET body = ? WHERE shard = ? AND part = ?').run(JSON.stringify(body), shard, part.part);
    snapshots.close();
    const result = await audit(['verify', '--data-dir', dir]);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(
      new RegExp(`VIOLATION \\[snapshot\\] stream=ledger-0 revision=${revision} position=\\d+: snapshots.sqlite: shard 0's snapshot at revision ${revision} differs from the stream folded to it: account ${fixture.wallets.a} creditsPosted ${row[9]}, the stream gives ${credits}`),
    );
    expect(result.stdout.match(/^VIOLATION /gm)).toHaveLength(1);
  });

  it("only notes a snapshot whose chain hash is not the stream's at its revision, or a -1 one over a stream with events: the writer ignores both and folds the stream", async () => {
    const forged = (dir: string, head: (body: { parts: number; lastEventHash: string | null }) => void, revision?: string) => forgeSnapshot(dir, revision, head);
    const otherHash = copy();
    const revision = forged(otherHash, (head) => void (head.lastEventHash = 'f'.repeat(64)));
    const result = await audit(['verify', '--data-dir', otherHash]);
    expect(result.stdout).not.toContain('VIOLATION');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`note: snapshots.sqlite: shard 0's snapshot at revision ${revision} was not taken of this stream (its chain hash is not the stream's event's there: a writer ignores it), not compared`);

    const noHash = copy();
    forged(noHash, (head) => void (head.lastEventHash = null));
    const noHashResult = await audit(['verify', '--data-dir', noHash]);
    expect(noHashResult.code).toBe(0);
    expect(noHashResult.stdout).toContain(`note: snapshots.sqlite: shard 0's snapshot at revision ${revision} was not taken of this stream`);

    const before = copy();
    forged(before, () => undefined, '-1');
    const beforeResult = await audit(['verify', '--data-dir', before]);
    expect(beforeResult.code).toBe(0);
    expect(beforeResult.stdout).toContain("note: snapshots.sqlite: shard 0's snapshot at revision -1 is of the empty stream, which has events now (a writer ignores it), not compared");
  });

  it("holds a snapshot against its stream at the revision the writer reads from it, however that revision is spelt (0x.., -1)", async () => {
    // Wallet a credited a million more, its revision spelt so that only a strict reading calls it unusable.
    const forged = (dir: string, revision: string) => void forgeSnapshot(dir, revision);
    const hex = copy();
    const { revision } = new Database(join(hex, 'snapshots.sqlite'), { readonly: true }).prepare('SELECT revision FROM ledger_snapshots WHERE shard = 0').get() as { revision: string };
    forged(hex, `0x${BigInt(revision).toString(16)}`);
    const result = await audit(['verify', '--data-dir', hex]);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain(`VIOLATION [snapshot] stream=ledger-0 revision=${revision} position=`);
    expect(result.stdout).toContain(`shard 0's snapshot at revision ${revision} differs from the stream folded to it: account ${fixture.wallets.a} creditsPosted`);
    // The writer reads what verify holds it to.
    const store = new SqliteSnapshotStore(join(hex, 'snapshots.sqlite'));
    expect((await store.load(0))?.revision).toBe(BigInt(revision));
    await store.close();

    // -1 (what a writer saves over an empty stream) on a shard still without events: the writer folds its first events on top of it, so it must be the empty state.
    const before = copy();
    forged(before, '-1');
    const withEvents = new Set(withStore(before, (db) => (db.prepare("SELECT stream_id FROM streams WHERE stream_id LIKE 'ledger-%'").pluck().all() as string[])));
    const empty = [0, 1, 2, 3].find((shard) => !withEvents.has(`ledger-${shard}`))!;
    expect(empty).toBeDefined();
    const snapshotsDb = new Database(join(before, 'snapshots.sqlite'));
    snapshotsDb.prepare('DELETE FROM ledger_snapshot_parts WHERE shard = ?').run(empty);
    snapshotsDb.prepare('INSERT OR REPLACE INTO ledger_snapshots (shard, revision, body) SELECT ?, revision, body FROM ledger_snapshots WHERE shard = 0').run(empty);
    snapshotsDb.prepare('INSERT INTO ledger_snapshot_parts (shard, part, body) SELECT ?, part, body FROM ledger_snapshot_parts WHERE shard = 0').run(empty);
    snapshotsDb.close();
    const beforeResult = await audit(['verify', '--data-dir', before]);
    expect(beforeResult.code).toBe(1);
    expect(beforeResult.stdout).toContain(`VIOLATION [snapshot] stream=ledger-${empty} revision=- position=-: snapshots.sqlite: shard ${empty}'s snapshot at revision -1 differs from the stream folded to it: account ${fixture.wallets.a} not in the stream`);

    // A revision no writer can read is only noted.
    const unusable = copy();
    forged(unusable, 'fourteen');
    const unusableResult = await audit(['verify', '--data-dir', unusable]);
    expect(unusableResult.code).toBe(0);
    expect(unusableResult.stdout).toContain("note: snapshots.sqlite: shard 0's snapshot names no revision (fourteen); a writer cannot use it");
    const writer = new SqliteSnapshotStore(join(unusable, 'snapshots.sqlite'));
    await expect(writer.load(0)).rejects.toThrow();
    await writer.close();
  });

  it("names a checkpoint ahead of what it could have read: a relay's beyond the store's head, a store-kept one beyond its own event", async () => {
    // The relay would skip every event up to it: nothing the ledger appends reaches the card-issuer.
    const relay = copy();
    const db = new Database(join(relay, 'wallet-ledger.sqlite'));
    db.prepare("UPDATE relay_checkpoints SET position = '1000000' WHERE name = 'wallet-ledger.events-relay'").run();
    db.close();
    const head = withStore(relay, (store) => (store.prepare('SELECT MAX(position) AS head FROM events').get() as { head: number }).head);
    const relayResult = await audit(['verify', '--data-dir', relay]);
    expect(relayResult.code).toBe(1);
    expect(relayResult.stdout).toContain(`VIOLATION [checkpoint] stream=- revision=- position=-: wallet-ledger.sqlite relay_checkpoints [name=wallet-ledger.events-relay]: position 1000000 is beyond the store's head ${head} (the relay would skip every event up to it)`);
    expect(relayResult.stdout.match(/^VIOLATION /gm)).toHaveLength(1);

    // The transfer saga's checkpoint (kept in the store) moved far ahead, chain resealed: it would skip the out legs to come.
    const saga = copy();
    const [saved] = withStore(saga, (store) => {
      const rows = eventsOf(store, 'checkpoint-wallet-ledger.transfer-saga');
      const last = rows[rows.length - 1];
      return reseal(store, last.stream_id, (row, data) => (row.revision === last.revision ? { data: { ...data, position: '999999' } } : undefined));
    });
    const sagaResult = await audit(['verify', '--data-dir', saga]);
    expect(sagaResult.code).toBe(1);
    expect(sagaResult.stdout).toContain(`VIOLATION [checkpoint] ${place(saved)}: checkpoint saved at position 999999, not before its own event's position ${saved.position}`);
    expect(sagaResult.stdout.match(/^VIOLATION /gm)).toHaveLength(1);
  });

  it("only notes a projection file behind the store (a host killed before its runner caught up), comparing it with a rebuild to its own checkpoint; rows that do not match that rebuild, or a checkpoint beyond the head, stay violations", async () => {
    // The wallet-ledger's file as it was before the store's last ledger events: a rebuild of the store without them.
    const lagging = copy();
    const { head, checkpoint } = await rebuildBehind(lagging, 'wallet-ledger.sqlite', 'ledger-', 3);
    expect(checkpoint).toBeLessThan(head);
    const result = await audit(['verify', '--data-dir', lagging]);
    expect({ code: result.code, violations: result.stdout.match(/^VIOLATION .*$/gm) }).toEqual({ code: 0, violations: null });
    expect(result.stdout).toContain(`note: wallet-ledger.sqlite: projection wallet-ledger at position ${checkpoint}, 3 of its events behind the store (its runner had not applied them yet; it does as it runs, or at the next start): compared with a rebuild to position ${checkpoint}`);

    // Behind, and a row edited: still named.
    const db = new Database(join(lagging, 'wallet-ledger.sqlite'));
    db.prepare("UPDATE accounts SET credits_posted = '1000000' WHERE account_id = ?").run(fixture.wallets.a);
    db.close();
    const edited = await audit(['verify', '--data-dir', lagging]);
    expect(edited.code).toBe(1);
    expect(edited.stdout).toMatch(new RegExp(`^VIOLATION \\[projection\\] .*wallet-ledger.sqlite accounts \\[account_id=${fixture.wallets.a}\\]: credits_posted live 1000000`, 'm'));

    // A checkpoint beyond the head: the runner refuses to start on it.
    const ahead = copy();
    const aheadDb = new Database(join(ahead, 'wallet-ledger.sqlite'));
    aheadDb.prepare("UPDATE checkpoints SET position = 1000000 WHERE name = 'wallet-ledger'").run();
    aheadDb.close();
    const aheadResult = await audit(['verify', '--data-dir', ahead]);
    expect(aheadResult.code).toBe(1);
    expect(aheadResult.stdout).toContain(`VIOLATION [projection] stream=- revision=- position=-: wallet-ledger.sqlite: projection wallet-ledger at position 1000000, beyond the store's head ${head} (its runner refuses to start)`);
  });

  it('names a trigger planted in the event store or a projection file, though every row is still as it should be', async () => {
    const dir = copy();
    // At the next append, each event's data would be rewritten (after its hash was taken); at the next projection update, wallet a credited.
    withStore(dir, (db) => db.exec("CREATE TRIGGER quietly AFTER INSERT ON events BEGIN UPDATE events SET data = replace(data, '\"100\"', '\"1000000\"') WHERE position = NEW.position; END"));
    const projection = new Database(join(dir, 'wallet-ledger.sqlite'));
    projection.exec(`CREATE TRIGGER generous AFTER UPDATE ON accounts BEGIN UPDATE accounts SET credits_posted = '1000000' WHERE account_id = '${fixture.wallets.a}'; END`);
    projection.exec('CREATE VIEW rich AS SELECT * FROM accounts');
    projection.close();
    const result = await audit(['verify', '--data-dir', dir]);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('VIOLATION [schema] stream=- revision=- position=-: events.sqlite: trigger quietly, which no writer creates');
    expect(result.stdout).toContain('VIOLATION [schema] stream=- revision=- position=-: wallet-ledger.sqlite: trigger generous, which no writer creates');
    expect(result.stdout).toContain('VIOLATION [schema] stream=- revision=- position=-: wallet-ledger.sqlite: view rich, which no writer creates');
    expect(result.stdout.match(/^VIOLATION /gm)).toHaveLength(3);
  });

  it('names the projection row that was edited, by its key', async () => {
    const dir = copy();
    const db = new Database(join(dir, 'wallet-ledger.sqlite'));
    db.prepare("UPDATE accounts SET credits_posted = '123456' WHERE account_id = ?").run(fixture.wallets.b);
    db.close();
    const result = await audit(['verify', '--data-dir', dir, '--json']);
    expect(result.code).toBe(1);
    const report = JSON.parse(result.stdout);
    expect(report).toMatchObject({ ok: false, violationCount: 1 });
    expect(report.violations[0]).toMatchObject({ check: 'projection' });
    expect(report.violations[0].message).toContain(`accounts [account_id=${fixture.wallets.b}]: credits_posted live 123456, rebuilt 6000`);
  });

  it("names an edited row of identity's projection too", async () => {
    const dir = copy();
    const db = new Database(join(dir, 'identity.sqlite'));
    db.prepare("UPDATE identity_users SET roles = '[\"admin\"]' WHERE user_id = ?").run(fixture.userId);
    db.close();
    const result = await audit(['verify', '--data-dir', dir]);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain(`identity.sqlite identity_users [user_id=${fixture.userId}]: roles live ["admin"], rebuilt`);
  });

  it("names a user snapshot identity would start a login from that differs from the user's stream (a role added), and only notes one of another history", async () => {
    const streamId = `user-${fixture.userId}`;
    const saveGenuine = async (dir: string) => {
      const rows = withStore(dir, (db) => eventsOf(db, streamId));
      const state = rows.reduce((folded, row) => evolve(folded, userEventOf(row.type, JSON.parse(row.data))), initialState());
      const last = rows[rows.length - 1];
      const db = new Database(join(dir, 'identity.sqlite'));
      await new SqliteUserSnapshots(db).save(streamId, { revision: BigInt(last.revision), eventId: last.event_id, state });
      return { db, last };
    };
    const genuine = copy();
    (await saveGenuine(genuine)).db.close();
    const clean = await audit(['verify', '--data-dir', genuine]);
    expect(clean.stdout).toContain("note: identity.sqlite: table identity_user_snapshots: identity's user snapshots, each compared with its stream folded to its revision");
    expect(clean.code).toBe(0);

    const promoted = copy();
    const { db, last } = await saveGenuine(promoted);
    const body = JSON.parse(db.prepare('SELECT body FROM identity_user_snapshots WHERE stream_id = ?').pluck().get(streamId) as string) as { state: { roles: string[] } };
    body.state.roles = [...body.state.roles, 'admin'];
    db.prepare('UPDATE identity_user_snapshots SET body = ? WHERE stream_id = ?').run(JSON.stringify(body), streamId);
    db.close();
    const result = await audit(['verify', '--data-dir', promoted]);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain(
      `VIOLATION [snapshot] ${place({ stream_id: streamId, revision: last.revision, position: last.position })}: identity.sqlite: ${streamId}'s snapshot at revision ${last.revision} differs from the stream folded to it (fields roles)`,
    );
    expect(result.stdout.match(/^VIOLATION /gm)).toHaveLength(1);

    const other = copy();
    const second = await saveGenuine(other);
    second.db.prepare('UPDATE identity_user_snapshots SET event_id = ?, body = ? WHERE stream_id = ?').run('another-event', JSON.stringify(body), streamId);
    second.db.close();
    const ignored = await audit(['verify', '--data-dir', other]);
    expect(ignored.stdout).toContain(`note: identity.sqlite: ${streamId}'s snapshot at revision ${second.last.revision} names an event the stream as read does not have there`);
    expect(ignored.code).toBe(0);
  });

  it("names an edited row of the card-issuer's projection", async () => {
    const dir = copy();
    const db = new Database(join(dir, 'card-issuer.sqlite'));
    db.prepare("UPDATE card_authorizations SET captured_amount = '1500' WHERE authorization_id = ?").run(fixture.cards.authorizationIds.captured);
    db.prepare("UPDATE card_cards SET status = 'frozen' WHERE card_id = ?").run(fixture.cards.cardId);
    db.close();
    const result = await audit(['verify', '--data-dir', dir]);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain(`card-issuer.sqlite card_authorizations [authorization_id=${fixture.cards.authorizationIds.captured}]: captured_amount live 1500, rebuilt 1000`);
    expect(result.stdout).toContain(`card-issuer.sqlite card_cards [card_id=${fixture.cards.cardId}]: status live frozen, rebuilt active`);
    expect(result.stdout.match(/^VIOLATION /gm)).toHaveLength(2);
  });

  it("names a card capture whose amount the ledger's hold does not bear out, whichever journal was edited (chains and projections recomputed)", async () => {
    const authorizationId = fixture.cards.authorizationIds.captured;
    // The card's stream says 100 of the 1500 held were captured; the ledger captured 1000.
    const cardSide = copy();
    const [cardEvent] = withStore(cardSide, (db) => {
      const { stream_id: cardStream } = db.prepare("SELECT stream_id FROM events WHERE type = 'cards.AuthorizationCaptured.v1'").get() as Row;
      return reseal(db, cardStream, (row, data) => (row.type === 'cards.AuthorizationCaptured.v1' ? { data: { ...data, capturedAmount: '100', releasedAmount: '1400' } } : undefined));
    });
    await adoptRebuild(cardSide, 'card-issuer.sqlite');
    const card = await audit(['verify', '--data-dir', cardSide]);
    expect(card.code).toBe(1);
    expect(card.stdout).toContain(`VIOLATION [card] ${place(cardEvent)}: authorization ${authorizationId} captured 100 on the card, but the ledger has its hold captured for 1000`);
    expect(card.stdout.match(/^VIOLATION /gm)).toHaveLength(1);

    // The ledger's HoldCaptured says 900 captured (the wallet keeps 100 more); the card's stream still says 1000.
    const ledgerSide = copy();
    const [holdEvent] = withStore(ledgerSide, (db) => {
      const { stream_id: shardStream } = db.prepare("SELECT stream_id FROM events WHERE type = 'ledger.HoldCaptured.v1' AND json_extract(data, '$.holdId') = ?").get(authorizationId) as Row;
      return reseal(db, shardStream, (row, data) => (row.type === 'ledger.HoldCaptured.v1' && data.holdId === authorizationId ? { data: { ...data, capturedAmount: '900', releasedAmount: '600' } } : undefined));
    });
    await adoptRebuild(ledgerSide, 'wallet-ledger.sqlite');
    const ledger = await audit(['verify', '--data-dir', ledgerSide]);
    expect(ledger.code).toBe(1);
    expect(ledger.stdout).toContain(`VIOLATION [card] stream=${cardEvent.stream_id} revision=${cardEvent.revision} position=${cardEvent.position}: authorization ${authorizationId} captured 1000 on the card, but the ledger has its hold captured for 900`);
    expect(ledger.stdout.match(/^VIOLATION /gm)).toHaveLength(1);
    expect(holdEvent.position).toBeLessThan(cardEvent.position);
  });

  it("names a cross-shard in leg replaced by a refusal the destination's state would not give (chain and projection recomputed)", async () => {
    const dir = copy();
    const [refused] = withStore(dir, (db) =>
      reseal(db, 'ledger-3', (row, data) => {
        const references = data.references as Record<string, string> | undefined;
        if (row.type !== 'ledger.EntryPosted.v1' || references?.leg !== 'in' || references.toWalletId !== fixture.wallets.c) return undefined;
        const { idempotencyKey, fingerprint, atMs } = data;
        // What a refusal looks like (shard-writer's rejectionEvent); the money a to c would then sit in transit.
        return { type: 'ledger.CommandRejected.v1', data: { idempotencyKey, fingerprint, atMs, commandType: 'PostEntry', error: { code: 'wallet_not_active', message: 'account is closed', details: {} } } };
      }),
    );
    await adoptRebuild(dir, 'wallet-ledger.sqlite');
    const result = await audit(['verify', '--data-dir', dir]);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(new RegExp(`VIOLATION \\[transfer\\] ${place(refused)}: transfer [^ ]+: in leg refused \\(wallet_not_active\\), but the destination shard's state then takes it`));
  });

  it('names a wallet opened without the no-overdraft flag every wallet gets, which let a withdrawal overdraw it (chain and projection recomputed)', async () => {
    const dir = copy();
    const [opened] = withStore(dir, (db) =>
      reseal(db, 'ledger-0', (row, data) => {
        // b opened as the writer never opens a wallet; its withdrawal of 100 made 100,000 (b holds 5,600).
        if (row.type === 'ledger.AccountOpened.v1' && data.accountId === fixture.wallets.b) return { data: { ...data, flags: { debitsMustNotExceedCredits: false, creditsMustNotExceedDebits: false } } };
        if (row.type === 'ledger.EntryPosted.v1' && data.kind === 'withdrawal') return { data: { ...data, postings: (data.postings as object[]).map((posting) => ({ ...posting, amount: '100000' })) } };
        return undefined;
      }),
    );
    await agreeWithTheStreams(dir);
    const result = await audit(['verify', '--data-dir', dir]);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain(
      `VIOLATION [ledger] ${place(opened)}: account ${fixture.wallets.b} opened at ${new Date(JSON.parse(opened.data).atMs).toISOString()}, but the shard's state then decides flags {"debitsMustNotExceedCredits":true,"creditsMustNotExceedDebits":false} (recorded {"debitsMustNotExceedCredits":false,"creditsMustNotExceedDebits":false})`,
    );
    // Reported once: the account stays open as recorded, so its later events are not reported again.
    expect(result.stdout.match(/^VIOLATION /gm)).toHaveLength(1);
  });

  it("names an entry paying a wallet out of a transit account outside any transfer's legs, an entry no command of the writer gives (chain and projection recomputed)", async () => {
    const dir = copy();
    const [forged] = withStore(dir, (db) =>
      reseal(db, 'ledger-0', (row, data) => {
        // b's withdrawal of 100 made a credit of 1,000,000, paid from what shard 0 records as arrived from shard 3.
        if (row.type !== 'ledger.EntryPosted.v1' || data.kind !== 'withdrawal') return undefined;
        const postings = [
          { accountId: 'sys:transit-from-3:USD:0', side: 'debit', amount: '1000000', currency: 'USD' },
          { accountId: fixture.wallets.b, side: 'credit', amount: '1000000', currency: 'USD' },
        ];
        return { data: { ...data, postings } };
      }),
    );
    await agreeWithTheStreams(dir);
    const result = await audit(['verify', '--data-dir', dir]);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain(
      `VIOLATION [ledger] ${place(forged)}: entry ${JSON.parse(forged.data).entryId} posted, but the writer's plan refuses it (validation_failed: postings[0].accountId: reserved)`,
    );
    // Not applied, so reported once.
    expect(result.stdout.match(/^VIOLATION /gm)).toHaveLength(1);
  });

  it('names a hold placed for another wallet than card clearing, whose capture paid that wallet (chain and projection recomputed)', async () => {
    const dir = copy();
    const [placed] = withStore(dir, (db) =>
      reseal(db, 'ledger-0', (row, data) => {
        // hold-b (b's 700, 400 captured) held and captured for wallet a instead of sys:card-clearing: b pays a.
        if (data.holdId !== 'hold-b' || (row.type !== 'ledger.HoldPlaced.v1' && row.type !== 'ledger.HoldCaptured.v1')) return undefined;
        return { data: { ...data, creditAccountId: fixture.wallets.a } };
      }),
    );
    await agreeWithTheStreams(dir);
    const result = await audit(['verify', '--data-dir', dir]);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain(`VIOLATION [ledger] ${place(placed)}: hold hold-b placed at `);
    expect(result.stdout).toContain(`, but the shard's state then decides creditAccountId sys:card-clearing:USD:0 (recorded ${fixture.wallets.a})`);
  });

  it("names a transfer's in leg that also debits a bystander, though it moves what its out leg moved to the wallet it names (chain and projection recomputed)", async () => {
    const dir = copy();
    const [inLeg] = withStore(dir, (db) =>
      reseal(db, 'ledger-0', (row, data) => {
        // c -> a (500) lands on shard 0: 100 of it now taken from b, 400 from transit. Every sum still adds up.
        const references = data.references as Record<string, string> | undefined;
        if (row.type !== 'ledger.EntryPosted.v1' || references?.leg !== 'in') return undefined;
        const postings = [
          { accountId: 'sys:transit-from-3:USD:0', side: 'debit', amount: '400', currency: 'USD' },
          { accountId: fixture.wallets.b, side: 'debit', amount: '100', currency: 'USD' },
          { accountId: fixture.wallets.a, side: 'credit', amount: '500', currency: 'USD' },
        ];
        return { data: { ...data, postings } };
      }),
    );
    await agreeWithTheStreams(dir);
    const result = await audit(['verify', '--data-dir', dir]);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain(`VIOLATION [ledger] ${place(inLeg)}: entry ${JSON.parse(inLeg.data).entryId} posted at `);
    expect(result.stdout).toContain(", but the shard's state then decides postings ");
  });

  it("names a transfer's out leg that also debits a bystander, though its in leg pays what it moved to the wallet it names (chain and projection recomputed)", async () => {
    const dir = copy();
    const [outLeg] = withStore(dir, (db) =>
      reseal(db, 'ledger-0', (row, data) => {
        // a -> c (2000) leaves shard 0 with 500 of it taken from b.
        const references = data.references as Record<string, string> | undefined;
        if (row.type !== 'ledger.EntryPosted.v1' || references?.leg !== 'out' || references.toWalletId !== fixture.wallets.c) return undefined;
        const postings = [
          { accountId: fixture.wallets.a, side: 'debit', amount: '1500', currency: 'USD' },
          { accountId: fixture.wallets.b, side: 'debit', amount: '500', currency: 'USD' },
          { accountId: 'sys:transit-to-3:USD:0', side: 'credit', amount: '2000', currency: 'USD' },
        ];
        return { data: { ...data, postings } };
      }),
    );
    await agreeWithTheStreams(dir);
    const result = await audit(['verify', '--data-dir', dir]);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain(`VIOLATION [ledger] ${place(outLeg)}: entry ${JSON.parse(outLeg.data).entryId} posted at `);
    expect(result.stdout).toContain(", but the shard's state then decides postings ");
  });

  it("names a hold's capture edited to charge another wallet (chain and projection recomputed)", async () => {
    const dir = copy();
    const [captured] = withStore(dir, (db) =>
      reseal(db, 'ledger-0', (row, data) => (row.type === 'ledger.HoldCaptured.v1' && data.holdId === 'hold-b' ? { data: { ...data, debitAccountId: fixture.wallets.a } } : undefined)),
    );
    await adoptRebuild(dir, 'wallet-ledger.sqlite');
    const result = await audit(['verify', '--data-dir', dir]);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain(`VIOLATION [ledger] ${place(captured)}: hold hold-b captured naming ${fixture.wallets.a} -> `);
  });

  it('replays through the CLI (the rebuild on worker threads) equal to the live files, and names an event that is not JSON (verify too)', async () => {
    const dir = copy();
    const out = join(copy(), 'replayed');
    const clean = await audit(['replay', '--out', out, '--data-dir', dir]);
    expect(clean).toMatchObject({ code: 0 });
    for (const file of ['wallet-ledger.sqlite', 'identity.sqlite', 'card-issuer.sqlite']) expect(clean.stdout).toContain(`${file}: equal to the rebuild`);

    const row = withStore(dir, (db) => {
      const target = transferRow(db);
      db.prepare('UPDATE events SET data = ? WHERE position = ?').run('{"not json', target.position);
      return target;
    });
    const broken = await audit(['replay', '--out', join(copy(), 'replayed'), '--data-dir', dir]);
    expect(broken.code).toBe(1);
    expect(broken.stdout).toContain(`VIOLATION [chain] ${place(row)}: event at ledger-0@${row.revision} (position ${row.position}) is unreadable: not JSON`);
    // verify's chain check names it the same way.
    const verified = await audit(['verify', '--data-dir', dir]);
    expect(verified.code).toBe(1);
    expect(verified.stdout).toContain(`VIOLATION [chain] ${place(row)}: event at ledger-0@${row.revision} (position ${row.position}) is unreadable: not JSON`);
  });

  it('reads a time with no offset as UTC, as its usage line says, whatever zone the machine is in', async () => {
    const newYork = { ...process.env, TZ: 'America/New_York' };
    const at = (time: string) => audit(['balance', '--account', fixture.wallets.a, '--at', time, '--json', '--data-dir', fixture.dataDir], newYork);
    const utc = await at(fixture.times.afterTopUps);
    expect(JSON.parse(utc.stdout)).toMatchObject({ posted: '10000', asOfRecordedAt: '2026-01-05T09:01:00.000Z' });
    for (const noOffset of [fixture.times.afterTopUps.replace(/\.000Z$/, ''), fixture.times.afterTopUps.replace('T', ' ').replace(/:00\.000Z$/, '')]) {
      expect({ noOffset, out: (await at(noOffset)).stdout }).toEqual({ noOffset, out: utc.stdout });
    }
  });

  it('exits 2 with the usage line on bad usage', async () => {
    for (const args of [[], ['frobnicate'], ['verify', '--bogus'], ['verify', '--data-dir', join(fixture.dataDir, 'nowhere')]]) {
      const result = await audit(args);
      expect(result.code).toBe(2);
      expect(result.stderr).toContain('usage: ledger-audit <command>');
    }
  });
});
