// The rebuild's bulk load across page and commit bounds: pages go into transactions without a
// savepoint each, so a page that fails rolls its file back to the last commit and the pages since
// then are applied again one savepoint each; the rows must be those of a rebuild that never failed.
import Database from 'better-sqlite3';
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expectedState, SqliteEventStore } from '@ledger/event-store';
import { systemAccountId } from '@ledger/ledger';
import { entry, LedgerHistory, openSystem, openWallet, type TestClock } from '../../wallet-ledger/src/projections/testing/ledger-history';
import { Findings, Progress } from './findings';
import { rebuildProjections, type RebuildSizes } from './rebuild';
import { rebuildAll } from './rebuild-worker';
import { openSqliteStoreReader } from './sqlite-store-reader';

const WALLETS = ['w-1', 'w-2', 'w-3', 'w-4'];
/** Pages of 3 events, a commit every 9: a failure lands after a commit, mid-transaction. */
const SMALL: RebuildSizes = { pageEvents: 3, commitEvents: 9 };
const LARGE: RebuildSizes = { pageEvents: 5_000, commitEvents: 200_000 };

/** Every row of every table of a projection file, in key order (the tables are WITHOUT ROWID: a scan goes by key). */
function dump(file: string): Record<string, unknown[]> {
  const db = new Database(file, { readonly: true });
  try {
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").pluck().all() as string[];
    return Object.fromEntries(tables.map((table) => [table, db.prepare(`SELECT * FROM "${table}"`).raw().all()]));
  } finally {
    db.close();
  }
}

describe('rebuildProjections (bulk load, rollback and redo)', () => {
  let dir: string;
  let clock: TestClock;
  let store: SqliteEventStore;
  let history: LedgerHistory;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'audit-rebuild-'));
    clock = { ms: Date.UTC(2026, 0, 1) };
    store = new SqliteEventStore({ file: join(dir, 'events.sqlite'), nowMs: () => clock.ms });
    history = new LedgerHistory(store, clock);
    await history.run(0, [openSystem(systemAccountId('funding', 'USD', 0)), ...WALLETS.map((id) => openWallet(id, `owner-${id}`))]);
    for (const [index, id] of WALLETS.entries()) {
      clock.ms += 1_000;
      await history.run(0, [entry(`top-${id}`, `top-${id}`, 'top_up', systemAccountId('funding', 'USD', 0), id, 1_000n + BigInt(index))]);
    }
  });

  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function transfers(count: number): Promise<void> {
    for (let index = 0; index < count; index++) {
      clock.ms += 1_000;
      const from = WALLETS[index % WALLETS.length];
      const to = WALLETS[(index + 1) % WALLETS.length];
      await history.run(0, [entry(`t-${clock.ms}`, `t-${clock.ms}`, 'transfer', from, to, 7n, { fromWalletId: from, toWalletId: to })]);
    }
  }

  /** An event of a type the wallet-ledger projection does not know, on shard 0. */
  async function appendBogus(): Promise<{ position: bigint }> {
    clock.ms += 1_000;
    const metadata = { correlationId: 'c', causationId: 'c', actor: 'test', occurredAt: new Date(clock.ms).toISOString() };
    return store.append('ledger-0', [{ eventId: 'bogus-event', type: 'ledger.Bogus.v1', schemaVersion: 1, data: { atMs: clock.ms }, metadata }], expectedState.any);
  }

  async function rebuild(name: string, sizes: RebuildSizes): Promise<{ findings: Findings; walletLedger: Record<string, unknown[]>; events: number }> {
    const outDir = join(dir, name);
    mkdirSync(outDir);
    const reader = openSqliteStoreReader(join(dir, 'events.sqlite'));
    try {
      const findings = new Findings();
      const stats = await rebuildProjections(reader, outDir, findings, new Progress(() => undefined), undefined, sizes);
      return { findings, walletLedger: dump(join(outDir, 'wallet-ledger.sqlite')), events: stats.events };
    } finally {
      await reader.close();
    }
  }

  /** `replay`'s rebuild: parts on worker threads, merged (or, when a part fails, everything again in one). */
  async function rebuildInParts(name: string): Promise<{ findings: Findings; walletLedger: Record<string, unknown[]>; failedFiles: ReadonlySet<string>; files: string[] }> {
    const outDir = join(dir, name);
    mkdirSync(outDir);
    const storeFile = join(dir, 'events.sqlite');
    const reader = openSqliteStoreReader(storeFile);
    try {
      const findings = new Findings();
      const stats = await rebuildAll(reader, storeFile, outDir, findings, new Progress(() => undefined));
      return { findings, walletLedger: dump(join(outDir, 'wallet-ledger.sqlite')), failedFiles: stats.failedFiles, files: readdirSync(outDir).sort() };
    } finally {
      await reader.close();
    }
  }

  it('merges the shards rebuilt in parts into the rows of one rebuild, schema and all', async () => {
    await history.run(1, [openSystem(systemAccountId('funding', 'USD', 1)), openWallet('w-9', 'owner-9')]);
    await history.run(1, [entry('top-w-9', 'top-w-9', 'top_up', systemAccountId('funding', 'USD', 1), 'w-9', 500n)]);
    await transfers(5);
    const whole = await rebuild('whole', LARGE);
    const parts = await rebuildInParts('parts');
    expect(parts.findings.count).toBe(0);
    expect(parts.files).toEqual(['card-issuer.sqlite', 'identity.sqlite', 'wallet-ledger.sqlite']);
    expect(parts.walletLedger).toEqual(whole.walletLedger);
    const schema = (file: string) => {
      const db = new Database(file, { readonly: true });
      try {
        return db.prepare('SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY name').all();
      } finally {
        db.close();
      }
    };
    expect(schema(join(dir, 'parts', 'wallet-ledger.sqlite'))).toEqual(schema(join(dir, 'whole', 'wallet-ledger.sqlite')));
    // Both shards' accounts made it (a part per shard here).
    expect(parts.walletLedger.accounts.map((row) => (row as unknown[])[1])).toEqual(expect.arrayContaining([0, 1]));
  });

  it('reports a part that fails as one rebuild does: it starts over whole', async () => {
    await transfers(3);
    const bogus = await appendBogus();
    await transfers(3);
    const whole = await rebuild('whole', LARGE);
    const parts = await rebuildInParts('parts');
    expect(parts.findings.toText()).toEqual(whole.findings.toText());
    expect(parts.findings.violations[0]).toMatchObject({ check: 'projection', position: bogus.position });
    expect(parts.failedFiles).toEqual(new Set(['wallet-ledger.sqlite']));
    expect(parts.files).toEqual(['card-issuer.sqlite', 'identity.sqlite', 'wallet-ledger.sqlite']);
    expect(parts.walletLedger).toEqual(whole.walletLedger);
  });

  it('rebuilds whole when the parts collide: an account opened on two shards', async () => {
    await history.run(1, [openWallet('w-1', 'someone-else')]);
    await transfers(2);
    const whole = await rebuild('whole', LARGE);
    const parts = await rebuildInParts('parts');
    expect(whole.findings.count).toBe(1);
    expect(parts.findings.toText()).toEqual(whole.findings.toText());
    expect(parts.files).toEqual(['card-issuer.sqlite', 'identity.sqlite', 'wallet-ledger.sqlite']);
    expect(parts.walletLedger).toEqual(whole.walletLedger);
  });

  it('names the first event that is not JSON as one rebuild does, whichever part parses it', async () => {
    await history.run(1, [openSystem(systemAccountId('funding', 'USD', 1)), openWallet('w-9', 'owner-9')]);
    await transfers(3);
    const db = new Database(join(dir, 'events.sqlite'));
    const broken = (streamId: string) => db.prepare("UPDATE events SET data = '{\"not json' WHERE position = (SELECT MAX(position) FROM events WHERE stream_id = ?) RETURNING position").pluck().get(streamId) as bigint;
    db.defaultSafeIntegers(true);
    // The first in position order is ledger-1's (the second part parses it), then one of ledger-0 (the first part's).
    const first = broken('ledger-1');
    const second = broken('ledger-0');
    db.close();
    expect(second).toBeGreaterThan(first);
    await expect(rebuild('whole', LARGE)).rejects.toMatchObject({ name: 'UnreadableEventError', position: first });
    await expect(rebuildInParts('parts')).rejects.toMatchObject({ name: 'UnreadableEventError', position: first });
  });

  it('still fails the read on an event no projection reads that is not JSON', async () => {
    const metadata = { correlationId: 'c', causationId: 'c', actor: 'test', occurredAt: new Date(clock.ms).toISOString() };
    const other = await store.append('elsewhere-1', [{ eventId: 'elsewhere-event', type: 'elsewhere.Happened.v1', schemaVersion: 1, data: {}, metadata }], expectedState.any);
    await transfers(2);
    const db = new Database(join(dir, 'events.sqlite'));
    db.prepare(`UPDATE events SET data = '{"not json' WHERE position = ?`).run(other.position);
    db.close();
    await expect(rebuildInParts('parts')).rejects.toMatchObject({ name: 'UnreadableEventError', position: other.position });
  });

  it('gives the same rows with pages and commits of a few events as in one page', async () => {
    await transfers(20);
    const small = await rebuild('small', SMALL);
    const large = await rebuild('large', LARGE);
    expect(small.findings.count).toBe(0);
    expect(small.events).toBeGreaterThan(2 * SMALL.commitEvents);
    expect(small.walletLedger).toEqual(large.walletLedger);
    expect(small.walletLedger.account_balances_history.length).toBeGreaterThan(40);
  });

  it('names the event a projection cannot apply after a commit, with every event before it applied', async () => {
    await transfers(8);
    const bogus = await appendBogus();
    // What the rebuild must hold: everything before the bogus event (the same store, cut there).
    const before = await rebuild('before', LARGE);
    await transfers(6);

    const small = await rebuild('small', SMALL);
    // Past a commit and not on a page's first event: the redo starts at the commit, not at the page.
    expect(Number(bogus.position) % SMALL.pageEvents).not.toBe(1);
    expect(Number(bogus.position)).toBeGreaterThan(SMALL.commitEvents);
    expect(small.findings.count).toBe(1);
    expect(small.findings.violations[0]).toMatchObject({ check: 'projection', streamId: 'ledger-0', position: bogus.position });
    expect(small.findings.violations[0].message).toContain('unknown event type ledger.Bogus.v1');
    expect(before.findings.count).toBe(1);
    expect(small.walletLedger).toEqual(before.walletLedger);
  });
});
