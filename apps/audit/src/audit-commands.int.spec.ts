// The commands' output on a real wallet-ledger data dir (run in-process through `runCli`; the
// child-process runs are in audit-verify.int.spec.ts).
import Database from 'better-sqlite3';
import { mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteEventStore } from '@ledger/event-store';
import { CSV_COLUMNS } from './journal-export';
import { buildStatement, type Statement } from './statement';
import { openSqliteStoreReader } from './sqlite-store-reader';
import { buildFixture, CARD_NUMBER_IN_REFERENCE, copyDataDir, runAudit as run, type AuditFixture } from './testing/audit-fixture';
import { WITHHELD } from './card-number-filter';

/** An end of a period after everything the fixture did. */
const FAR_FUTURE = '2100-01-01T00:00:00.000Z';

let fixture: AuditFixture;
const scratch: string[] = [];

beforeAll(async () => {
  fixture = await buildFixture();
}, 60_000);

afterAll(() => {
  for (const dir of [fixture?.dataDir, ...scratch]) if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'ledger-audit-test-'));
  scratch.push(dir);
  return dir;
}


describe('ledger-audit commands', () => {
  it('replay rebuilds into a fresh directory and lists the differences per account', async () => {
    const out = join(tempDir(), 'replayed');
    expect(await run('replay', '--out', out, '--data-dir', fixture.dataDir)).toMatchObject({ code: 0, out: expect.stringContaining('wallet-ledger.sqlite: equal to the rebuild') });
    expect(readdirSync(out)).toEqual(expect.arrayContaining(['wallet-ledger.sqlite', 'identity.sqlite']));

    const dir = copyDataDir(fixture);
    scratch.push(dir);
    const db = new Database(join(dir, 'wallet-ledger.sqlite'));
    db.prepare("UPDATE transaction_lines SET amount = '1' WHERE wallet_id = ?").run(fixture.wallets.c);
    db.close();
    const diff = await run('replay', '--out', join(tempDir(), 'replayed'), '--data-dir', dir);
    expect(diff.code).toBe(1);
    expect(diff.out).toContain(`over 1 accounts`);
    expect(diff.out).toContain(`  ${fixture.wallets.c}:\n    wallet-ledger.sqlite transaction_lines [wallet_id=${fixture.wallets.c} position=`);
    expect(await run('replay', '--out', dir, '--data-dir', dir)).toMatchObject({ code: 2 });
    // A file where the directory should be (or its parent) is bad usage, not the audit failing with a stack trace.
    const file = join(tempDir(), 'a-file');
    writeFileSync(file, '');
    for (const out of [file, join(file, 'replayed')]) {
      expect(await run('replay', '--out', out, '--data-dir', dir)).toMatchObject({ code: 2, err: expect.stringContaining('is not a directory') });
    }
    expect(await run('replay', '--out', join(dir, 'inside'), '--data-dir', dir)).toMatchObject({ code: 2 });
    // Inside it through a symbolic link (to the data dir, or the data dir given through one) is inside it too.
    const links = tempDir();
    symlinkSync(dir, join(links, 'to-data'));
    expect(await run('replay', '--out', join(links, 'to-data', 'inside'), '--data-dir', dir)).toMatchObject({ code: 2 });
    expect(await run('replay', '--out', join(dir, 'inside'), '--data-dir', join(links, 'to-data'))).toMatchObject({ code: 2 });
    expect(readdirSync(dir)).not.toContain('inside');
  });

  it('balance gives the four sums and the available balance at a position, a time, or now', async () => {
    const now = JSON.parse((await run('balance', '--account', fixture.wallets.b, '--json', '--data-dir', fixture.dataDir)).out);
    // b: 5000 top-up + 1000 from a - 400 captured - 100 withdrawn.
    expect(now).toMatchObject({ debitsPosted: '500', creditsPosted: '6000', debitsPending: '0', creditsPending: '0', posted: '5500', available: '5500' });
    const afterTopUps = JSON.parse((await run('balance', '--account', fixture.wallets.a, '--at', fixture.times.afterTopUps, '--json', '--data-dir', fixture.dataDir)).out);
    expect(afterTopUps).toMatchObject({ posted: '10000', available: '10000' });
    const atPosition = JSON.parse((await run('balance', '--account', fixture.wallets.a, '--position', afterTopUps.asOfPosition, '--json', '--data-dir', fixture.dataDir)).out);
    expect(atPosition).toEqual(afterTopUps);
    expect(await run('balance', '--account', fixture.wallets.a, '--at', new Date(Date.parse(fixture.times.start) - 1).toISOString(), '--data-dir', fixture.dataDir)).toMatchObject({ code: 1 });
    // Past the head: everything; before the first event: no account yet.
    const aNow = (await run('balance', '--account', fixture.wallets.a, '--json', '--data-dir', fixture.dataDir)).out;
    expect((await run('balance', '--account', fixture.wallets.a, '--position', '9999999999999999999', '--json', '--data-dir', fixture.dataDir)).out).toBe(aNow);
    expect(await run('balance', '--account', fixture.wallets.a, '--position', '0', '--data-dir', fixture.dataDir)).toMatchObject({ code: 1, err: expect.stringContaining('in the ledger at that point') });
    for (const bad of ['yesterday', '2026-02-29', '2026-04-31T10:00:00Z', '2026-02-30T00:00:00.000Z', '2026-01-05T25:00', '2026-01-05T09:00:00 GMT+0300', '9999-12-31T23:00:00-05:00', '0000-01-01T00:30:00+01:00']) {
      expect({ bad, code: (await run('balance', '--account', fixture.wallets.a, '--at', bad, '--data-dir', fixture.dataDir)).code }).toEqual({ bad, code: 2 });
    }
    expect(await run('balance', '--account', fixture.wallets.a, '--at', fixture.times.end, '--position', '3', '--data-dir', fixture.dataDir)).toMatchObject({ code: 2 });
  });

  it('export writes one posting per line whose sums per account are the posted balances, within [from, to)', async () => {
    const csv = await run('export', '--format', 'csv', '--data-dir', fixture.dataDir);
    expect(csv.code).toBe(0);
    const [header, ...lines] = csv.out.trimEnd().split('\n');
    expect(header).toBe(CSV_COLUMNS.join(','));
    const jsonl = (await run('export', '--format', 'jsonl', '--data-dir', fixture.dataDir)).out.trimEnd().split('\n').map((line) => JSON.parse(line));
    expect(jsonl).toHaveLength(lines.length);
    const net = (walletId: string) =>
      jsonl.filter((row) => row.account_id === walletId).reduce((sum, row) => sum + (row.side === 'credit' ? 1n : -1n) * BigInt(row.amount), 0n);
    expect([net(fixture.wallets.a), net(fixture.wallets.b), net(fixture.wallets.c)]).toEqual([7500n, 5500n, 4500n]);
    expect(jsonl.find((row) => row.kind === 'card_capture')).toMatchObject({ entry_id: 'hold-b', amount: '400', account_id: fixture.wallets.b, side: 'debit' });

    const topUpsOnly = (await run('export', '--format', 'jsonl', '--to', fixture.times.afterTopUps, '--data-dir', fixture.dataDir)).out.trimEnd().split('\n').map((line) => JSON.parse(line));
    expect(new Set(topUpsOnly.map((row) => row.kind))).toEqual(new Set(['top_up']));
    const later = (await run('export', '--format', 'jsonl', '--from', fixture.times.afterTopUps, '--data-dir', fixture.dataDir)).out.trimEnd().split('\n');
    expect(topUpsOnly.length + later.length).toBe(jsonl.length);
    // A bound finer than the store's milliseconds: [T + 0.1 ms, ...) starts after the postings at T, [..., T + 0.1 ms) ends after them.
    const lineTime: string = jsonl[jsonl.length - 1].recorded_at;
    const atLineTime = jsonl.filter((row) => row.recorded_at === lineTime).length;
    const finer = lineTime.replace(/Z$/, '1Z');
    const rows = async (...bounds: string[]) => (await run('export', '--format', 'jsonl', ...bounds, '--data-dir', fixture.dataDir)).out.split('\n').filter((line) => line !== '').map((line) => JSON.parse(line));
    expect((await rows('--from', finer)).filter((row) => row.recorded_at === lineTime)).toHaveLength(0);
    expect((await rows('--from', lineTime, '--to', finer)).length).toBe(atLineTime);
    // --at is inclusive: T + 0.1 ms is still T's balance.
    const balanceAt = async (at: string) => JSON.parse((await run('balance', '--account', fixture.wallets.a, '--at', at, '--json', '--data-dir', fixture.dataDir)).out);
    expect(await balanceAt(fixture.times.afterTopUps.replace(/Z$/, '9Z'))).toEqual(await balanceAt(fixture.times.afterTopUps));
    expect(await run('export', '--format', 'xml', '--data-dir', fixture.dataDir)).toMatchObject({ code: 2 });

    // The card number a caller put in a reference is in the store, never in the export.
    const store = new Database(join(fixture.dataDir, 'events.sqlite'), { readonly: true });
    expect(store.prepare('SELECT count(*) AS n FROM events WHERE data LIKE ?').get(`%${CARD_NUMBER_IN_REFERENCE}%`)).toEqual({ n: 1 });
    store.close();
    expect(csv.out).not.toContain(CARD_NUMBER_IN_REFERENCE);
    expect(jsonl.filter((row) => row.references.reference === WITHHELD)).toHaveLength(2);
    expect(csv.err).toContain('withheld 2 reference values that looked like card numbers');
  });

  it('statement proves each line and verify-statement checks it against the store', async () => {
    const { code, out } = await run('statement', '--wallet', fixture.wallets.a, '--from', fixture.times.afterTopUps, '--to', fixture.times.end, '--data-dir', fixture.dataDir);
    expect(code).toBe(0);
    const statement = JSON.parse(out) as Statement;
    expect(statement).toMatchObject({ opening: { posted: '10000' }, closing: { posted: '7500' }, merkle: { leafCount: 3 } });
    expect(statement.lines.map((line) => [line.entry.side, line.entry.amount, line.entry.balanceAfter])).toEqual([
      ['debit', '1000', '9000'],
      ['debit', '2000', '7000'],
      ['credit', '500', '7500'],
    ]);
    const dir = tempDir();
    const file = join(dir, 'statement.json');
    writeFileSync(file, out);
    expect(await run('verify-statement', file, '--data-dir', fixture.dataDir)).toMatchObject({ code: 0 });

    // A line's amount changed: its proof no longer leads to the root.
    const tampered = structuredClone(statement) as unknown as { lines: { entry: { amount: string } }[] };
    tampered.lines[1].entry.amount = '20';
    writeFileSync(file, JSON.stringify(tampered));
    const refused = await run('verify-statement', file, '--data-dir', fixture.dataDir);
    expect(refused.code).toBe(1);
    expect(refused.out).toContain(`stream=ledger-0 revision=${statement.lines[1].entry.revision} position=${statement.lines[1].entry.position}: line 1: its inclusion proof does not lead`);

    // The store's event edited after the statement was issued: its chain hash no longer holds.
    const copy = copyDataDir(fixture);
    scratch.push(copy);
    const db = new Database(join(copy, 'events.sqlite'));
    db.prepare("UPDATE events SET data = replace(data, '\"2000\"', '\"20\"') WHERE position = ?").run(Number(statement.lines[1].entry.position));
    db.close();
    writeFileSync(file, out);
    const broken = await run('verify-statement', file, '--data-dir', copy);
    expect(broken.code).toBe(1);
    expect(broken.out).toContain('the chain of ledger-0 is broken at revision');
    expect(await run('verify-statement', join(dir, 'missing.json'), '--data-dir', fixture.dataDir)).toMatchObject({ code: 2 });
    // Not JSON: said so by position, never quoting the file (Node 20's JSON.parse message would quote the card number).
    writeFileSync(join(dir, 'garbled.json'), `{"lines":[{"references":{"card":x${CARD_NUMBER_IN_REFERENCE}}}]}`);
    const garbled = await run('verify-statement', join(dir, 'garbled.json'), '--json', '--data-dir', fixture.dataDir);
    expect(garbled).toMatchObject({ code: 2, err: expect.stringContaining('not valid JSON') });
    expect(garbled.err + garbled.out).not.toContain(CARD_NUMBER_IN_REFERENCE.slice(0, 6));
  });

  it('verify-statement refuses a statement edited outside its lines, or over a period not in the store\'s form', async () => {
    const { out } = await run('statement', '--wallet', fixture.wallets.a, '--from', fixture.times.afterTopUps, '--to', fixture.times.end, '--data-dir', fixture.dataDir);
    const statement = JSON.parse(out) as Statement;
    const file = join(tempDir(), 'statement.json');
    const verifyEdited = async (edited: unknown) => {
      writeFileSync(file, JSON.stringify(edited));
      return run('verify-statement', file, '--data-dir', fixture.dataDir);
    };
    // Fields outside the Merkle leaves: each edit alone must be refused, naming the field.
    const edits: [string, unknown][] = [
      ['currency', { ...statement, currency: 'EUR' }],
      ['opening.asOfPosition', { ...statement, opening: { ...statement.opening, asOfPosition: '1' } }],
      ['closing.asOfPosition', { ...statement, closing: { ...statement.closing, asOfPosition: '99999' } }],
      ['approvedBy', { ...statement, approvedBy: 'the auditor' }],
      ['lines.0.note', { ...statement, lines: [{ ...statement.lines[0], note: 'disputed' }, ...statement.lines.slice(1)] }],
      // Not there at all, or not objects: a statement that does not match, not a failure of the audit (exit 3).
      ['opening', { ...statement, opening: undefined }],
      ['closing', { ...statement, closing: null }],
      ['opening', { ...statement, opening: 'all of it' }],
    ];
    for (const [path, edited] of edits) {
      const result = await verifyEdited(edited);
      expect({ path, code: result.code, named: result.out.includes(`${path} differs from what the store gives`) || result.out.includes(`${path} balance is `) }).toEqual({ path, code: 1, named: true });
    }

    // Every line is at 09:03:00.000Z. The honest statement from a millisecond later has none; its period edited to
    // "09:03:00Z" (that same instant, but the string sorts after "09:03:00.000Z", so the store's fold puts the lines
    // before it) claims a period from 09:03 with nothing in it.
    const lineTime = statement.lines[0].entry.recordedAt;
    expect(statement.lines.every((line) => line.entry.recordedAt === lineTime)).toBe(true);
    const later = JSON.parse((await run('statement', '--wallet', fixture.wallets.a, '--from', new Date(Date.parse(lineTime) + 1).toISOString(), '--to', fixture.times.end, '--data-dir', fixture.dataDir)).out) as Statement;
    expect(later.lines).toHaveLength(0);
    const moved = await verifyEdited({ ...later, from: lineTime.replace('.000Z', 'Z') });
    expect(moved.code).toBe(1);
    expect(moved.out).toContain("is not two times in the store's form");
    expect(await verifyEdited({ ...statement, from: statement.to, to: statement.from })).toMatchObject({ code: 1 });
    // A number JSON reads as Infinity is refused, not a crash of the audit.
    writeFileSync(file, out.replace(`"amount": "${statement.lines[0].entry.amount}"`, '"amount": 1e400'));
    expect(await run('verify-statement', file, '--data-dir', fixture.dataDir)).toMatchObject({ code: 1, out: expect.stringContaining('not a ledger-audit.statement.v1 document') });
    writeFileSync(file, out);
    expect(await run('verify-statement', file, '--data-dir', fixture.dataDir)).toMatchObject({ code: 0 });
  });

  it("verify-statement refuses a statement whose period covers a broken chain, though no line's event is the edited one", async () => {
    // The store edited before the statement was issued: b's withdrawal re-pointed at a (after b's last other line).
    const dir = copyDataDir(fixture);
    scratch.push(dir);
    const db = new Database(join(dir, 'events.sqlite'));
    const withdrawal = db.prepare("SELECT position, revision, data FROM events WHERE stream_id = 'ledger-0' AND data LIKE ?").get('%"withdrawal"%') as { position: number; revision: number; data: string };
    db.prepare('UPDATE events SET data = ? WHERE position = ?').run(withdrawal.data.replaceAll(fixture.wallets.b, fixture.wallets.a), withdrawal.position);
    db.close();
    const named = `stream=ledger-0 revision=${withdrawal.revision} position=${withdrawal.position}: the chain of ledger-0 is broken at revision ${withdrawal.revision}, within the period the statement covers`;
    // `statement` issues none over it ...
    const issued = await run('statement', '--wallet', fixture.wallets.b, '--from', fixture.times.start, '--to', FAR_FUTURE, '--data-dir', dir);
    expect(issued).toMatchObject({ code: 1, out: expect.stringContaining(`VIOLATION [chain] ${named}`) });
    // ... and one made from the store as it is (lines up to b's capture, the withdrawal left out) does not verify.
    const reader = openSqliteStoreReader(join(dir, 'events.sqlite'));
    const statement = await buildStatement(reader, fixture.wallets.b, fixture.times.start, FAR_FUTURE).finally(() => reader.close());
    expect(statement?.lines.every((line) => Number(line.entry.revision) < withdrawal.revision)).toBe(true);
    const file = join(tempDir(), 'statement.json');
    writeFileSync(file, JSON.stringify(statement));
    const verified = await run('verify-statement', file, '--data-dir', dir);
    expect(verified.code).toBe(1);
    expect(verified.out).toContain(named);
  });

  it("rebuilds the card-issuer's projection, and no output or rebuilt file holds a card number", async () => {
    const { cards } = fixture;
    const out = join(tempDir(), 'replayed');
    const outputs: Record<string, { code: number; out: string; err: string }> = {
      verify: await run('verify', '--data-dir', fixture.dataDir),
      verifyJson: await run('verify', '--json', '--data-dir', fixture.dataDir),
      replay: await run('replay', '--out', out, '--data-dir', fixture.dataDir),
      balance: await run('balance', '--account', cards.walletId, '--json', '--data-dir', fixture.dataDir),
      csv: await run('export', '--format', 'csv', '--data-dir', fixture.dataDir),
      jsonl: await run('export', '--format', 'jsonl', '--data-dir', fixture.dataDir),
      statement: await run('statement', '--wallet', cards.walletId, '--from', fixture.times.start, '--to', FAR_FUTURE, '--data-dir', fixture.dataDir),
    };
    const file = join(tempDir(), 'statement.json');
    writeFileSync(file, outputs.statement.out);
    outputs.verifyStatement = await run('verify-statement', file, '--data-dir', fixture.dataDir);
    for (const [command, result] of Object.entries(outputs)) expect({ command, code: result.code }).toEqual({ command, code: 0 });

    // The card part is there: compared equal, its capture in the journal and on the statement.
    expect(outputs.replay.out).toContain('card-issuer.sqlite: equal to the rebuild');
    expect(outputs.verify.out).not.toContain('card-issuer.sqlite: unknown file');
    const rebuilt = new Database(join(out, 'card-issuer.sqlite'), { readonly: true });
    expect(rebuilt.prepare('SELECT authorization_id, card_id, phase FROM card_authorizations ORDER BY authorization_id').all()).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ authorization_id: cards.authorizationIds.captured, card_id: cards.cardId }),
        expect.objectContaining({ authorization_id: cards.authorizationIds.declined, card_id: cards.cardId }),
        expect.objectContaining({ authorization_id: cards.authorizationIds.unknownPan, card_id: null }),
      ]),
    );
    rebuilt.close();
    expect(outputs.jsonl.out).toContain(`"account_id":"${cards.walletId}"`);
    expect(JSON.parse(outputs.statement.out).lines.map((line: Statement['lines'][number]) => line.entry.kind)).toEqual(['top_up', 'card_capture']);

    // Card numbers in every form an output could carry them: plain, grouped by 4, last digits aside.
    const forms = cards.pans.flatMap((pan) => [pan, pan.replace(/(\d{4})(?=\d)/g, '$1 '), pan.replace(/(\d{4})(?=\d)/g, '$1-')]);
    expect(forms.length).toBe(cards.pans.length * 3);
    for (const [command, result] of Object.entries(outputs)) for (const pan of forms) expect({ command, leaks: `${result.out}${result.err}`.includes(pan) }).toEqual({ command, leaks: false });
    for (const name of readdirSync(out)) for (const pan of forms) expect({ name, leaks: readFileSync(join(out, name)).includes(pan) }).toEqual({ name, leaks: false });
  });

  it('names a ledger event whose data is not of its type (export, balance, statement, verify-statement, verify), instead of failing', async () => {
    // A statement issued before the edit names the event: verify-statement reads its postings too.
    const statementFile = join(tempDir(), 'statement.json');
    writeFileSync(statementFile, (await run('statement', '--wallet', fixture.wallets.a, '--from', fixture.times.start, '--to', FAR_FUTURE, '--data-dir', fixture.dataDir)).out);
    const dir = copyDataDir(fixture);
    scratch.push(dir);
    const db = new Database(join(dir, 'events.sqlite'));
    const target = db.prepare("SELECT stream_id AS streamId, revision, position FROM events WHERE stream_id = 'ledger-0' AND type = 'ledger.EntryPosted.v1' AND data LIKE '%\"transfer\"%'").get() as { streamId: string; revision: number; position: number };
    db.prepare("UPDATE events SET data = '{}' WHERE position = ?").run(target.position);
    db.close();
    const place = `VIOLATION [ledger] stream=${target.streamId} revision=${target.revision} position=${target.position}:`;
    const results = {
      export: await run('export', '--format', 'csv', '--data-dir', dir),
      balance: await run('balance', '--account', fixture.wallets.a, '--data-dir', dir),
      statement: await run('statement', '--wallet', fixture.wallets.a, '--from', fixture.times.start, '--to', FAR_FUTURE, '--data-dir', dir),
      'verify-statement': await run('verify-statement', statementFile, '--data-dir', dir),
      verify: await run('verify', '--data-dir', dir),
    };
    for (const [command, result] of Object.entries(results)) expect({ command, code: result.code, named: result.out.includes(place) }).toEqual({ command, code: 1, named: true });
  });

  it('names an event whose row holds a column of another type (a revision 4.5, a schemaVersion "x"), instead of failing', async () => {
    // SQLite keeps what an INTEGER column cannot convert as it is (the TEXT columns turn anything into text).
    for (const [column, value] of [['revision', 4.5], ['schema_version', 'x'], ['revision', '3rd']] as const) {
      const dir = copyDataDir(fixture);
      scratch.push(dir);
      const db = new Database(join(dir, 'events.sqlite'));
      const target = db.prepare("SELECT position FROM events WHERE stream_id = 'ledger-0' AND type = 'ledger.EntryPosted.v1'").get() as { position: number };
      db.prepare(`UPDATE events SET ${column} = ? WHERE position = ?`).run(value, target.position);
      db.close();
      const results = { verify: await run('verify', '--data-dir', dir), export: await run('export', '--format', 'csv', '--data-dir', dir), replay: await run('replay', '--out', join(tempDir(), 'out'), '--data-dir', dir) };
      for (const [command, result] of Object.entries(results)) {
        expect({ column, command, code: result.code, named: result.out.includes(`position=${target.position}: `) }).toEqual({ column, command, code: 1, named: true });
      }
    }
  });

  it("checks the chain of a stream whose id is empty (no writer makes one), and a recorded head of one", async () => {
    const dir = copyDataDir(fixture);
    scratch.push(dir);
    const db = new Database(join(dir, 'events.sqlite'));
    const last = db.prepare('SELECT * FROM events ORDER BY position DESC LIMIT 1').get() as { position: number; event_id: string; type: string; data: string; metadata: string; recorded_at: string };
    db.prepare('INSERT INTO events VALUES (?, ?, 0, ?, ?, 1, ?, ?, ?)').run(last.position + 1, '', 'nameless', last.type, last.data, last.metadata, last.recorded_at);
    db.prepare("INSERT INTO streams VALUES ('-', 0, 'x')").run();
    db.close();
    const result = await run('verify', '--data-dir', dir);
    expect(result.code).toBe(1);
    expect(result.out).toContain(`VIOLATION [chain] stream= revision=0 position=${last.position + 1}: event nameless: prevHash`);
    expect(result.out).toContain('VIOLATION [stream-head] stream= revision=- position=-: the store records no head for this stream');
    expect(result.out).toContain('VIOLATION [stream-head] stream=- revision=0 position=-: recorded head of a stream with no events');
  });

  it('verifies an empty store as clean, and refuses a file that is not an event store', async () => {
    const empty = tempDir();
    await new SqliteEventStore({ file: join(empty, 'events.sqlite') }).close();
    expect(await run('verify', '--data-dir', empty)).toMatchObject({ code: 0, out: expect.stringContaining('verify: clean') });
    const bogus = tempDir();
    writeFileSync(join(bogus, 'events.sqlite'), 'not a database');
    expect(await run('verify', '--data-dir', bogus)).toMatchObject({ code: 2, err: expect.stringContaining('is not an event store this audit can read') });
  });

  it('with --json answers every failure with one JSON object on stdout too (bad usage, nothing found, the audit failing)', async () => {
    const failures: [string[], number, string][] = [
      [['verify', '--bogus'], 2, 'usage'],
      [['frobnicate'], 2, 'usage'],
      [['verify', '--data-dir', join(tempDir(), 'nowhere')], 2, 'usage'],
      [['balance', '--account', 'nobody', '--data-dir', fixture.dataDir], 1, 'not_found'],
      [['statement', '--wallet', 'nobody', '--from', fixture.times.start, '--to', FAR_FUTURE, '--data-dir', fixture.dataDir], 1, 'not_found'],
      [['balance', '--account', fixture.wallets.a, '--at', 'yesterday', '--data-dir', fixture.dataDir], 2, 'usage'],
      [['verify', '--data-dir', 'esdb://admin:changeit@localhost:2113?tls=false'], 2, 'usage'],
    ];
    for (const [args, exit, code, json = '--json'] of [...failures, [['verify', '--data-dir', fixture.dataDir], 2, 'usage', '--json=true'] as const]) {
      // --json=true is bad usage (a flag takes no value), yet asks for JSON as plainly as --json does.
      const result = await run(...args, json);
      // A KurrentDB connection string is named as one (and its password never printed), not read as a relative path.
      if (args.includes('verify') && args.some((arg) => arg.startsWith('esdb:'))) expect(result.err).toMatch(/esdb:\/\/\*\*\*@localhost:2113\?tls=false is a connection string: .*KurrentDB reader is not built/);
      expect({ args, exit: result.code, out: JSON.parse(result.out || 'null') }).toEqual({ args, exit, out: { ok: false, error: { code, message: expect.any(String) } } });
    }
  });

  it('answers a store another process holds locked as the audit failing (exit 3, no stack trace), not as bad usage', async () => {
    const dir = copyDataDir(fixture);
    scratch.push(dir);
    const holder = new Database(join(dir, 'events.sqlite'));
    try {
      holder.pragma('locking_mode = EXCLUSIVE');
      holder.exec('BEGIN EXCLUSIVE');
      const locked = await run('verify', '--json', '--data-dir', dir);
      expect({ code: locked.code, out: JSON.parse(locked.out || 'null') }).toEqual({ code: 3, out: { ok: false, error: { code: 'failed', message: expect.stringContaining('database is locked') } } });
      expect(locked.err).toContain('database is locked');
      expect(locked.err).not.toContain('usage:');
      expect(locked.err).not.toMatch(/^\s+at /m);
      holder.exec('ROLLBACK');
    } finally {
      holder.close();
    }
    // A projection file locked the same way: found when verify compares it.
    const projection = new Database(join(dir, 'identity.sqlite'));
    try {
      projection.pragma('locking_mode = EXCLUSIVE');
      projection.exec('BEGIN EXCLUSIVE');
      const locked = await run('verify', '--data-dir', dir);
      expect(locked).toMatchObject({ code: 3, err: expect.stringContaining('database is locked') });
      expect(locked.err).not.toMatch(/^\s+at /m);
      projection.exec('ROLLBACK');
    } finally {
      projection.close();
    }
  });

  it('names a live projection file that is not a database as a violation of that file, and checks the rest (verify, replay)', async () => {
    const dir = copyDataDir(fixture);
    scratch.push(dir);
    writeFileSync(join(dir, 'identity.sqlite'), 'not a database, not even SQLite');
    const broken = 'VIOLATION [projection] stream=- revision=- position=-: identity.sqlite: the live file cannot be read (file is not a database), not compared';
    const verified = await run('verify', '--data-dir', dir);
    expect(verified).toMatchObject({ code: 1, out: expect.stringContaining(broken) });
    expect(verified.out.match(/^VIOLATION /gm)).toHaveLength(1);
    const replayed = await run('replay', '--out', join(tempDir(), 'replayed'), '--data-dir', dir);
    expect(replayed).toMatchObject({ code: 1, out: expect.stringContaining('wallet-ledger.sqlite: equal to the rebuild') });
    expect(replayed.out).toContain(broken);
  });

  it('answers bad usage with exit 2 and the usage line', async () => {
    const backwards = ['--from', '2026-01-02', '--to', '2026-01-01'];
    for (const args of [['statement', '--wallet', 'w'], ['export'], ['verify', 'extra'], ['balance', '--account', 'x', '--position', '-1'], ['replay'], ['export', '--format', 'csv', ...backwards], ['statement', '--wallet', 'w', ...backwards]]) {
      const result = await run(...args, '--data-dir', fixture.dataDir);
      expect(result.code).toBe(2);
      expect(result.err).toContain('usage: ledger-audit');
    }
  });
});
