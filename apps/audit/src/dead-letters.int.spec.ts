// `ledger-audit dead-letters` on a dead-letter file the bus's store wrote: paged, read-only, no card number printed.
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BUS_HEADERS, DEAD_LETTERS_FILE, SqliteDeadLetterStore, type DeadLetter } from '@ledger/messaging';
import { WITHHELD } from './card-number-filter';
import { runAudit as run } from './testing/audit-fixture';

const PAN = '4111111111111111';
let dir: string;

const letter = (offset: number, overrides: Partial<DeadLetter> = {}): DeadLetter => ({
  topic: 'ledger.events',
  partition: 1,
  offset: String(offset),
  groupId: 'card-issuer',
  attempts: 5,
  error: 'RpcException: ledger unavailable',
  key: 'wallet-1',
  value: Buffer.from(JSON.stringify({ type: 'ledger.HoldPlaced.v1', data: { amount: '1050', memo: `card ${PAN}` } })),
  headers: { 'x-trace': 't-1' },
  ...overrides,
});

// Open throughout, as a running host holds it: the audit reads beside it.
let store: SqliteDeadLetterStore;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ledger-audit-dlq-'));
  store = new SqliteDeadLetterStore(join(dir, DEAD_LETTERS_FILE), { maxMessages: 100 });
  await store.add(letter(7));
  await store.add(letter(8, { error: `CodecError: cannot decode payload as JSON: Unexpected token 'x', "{"pan":x${PAN}}" is not valid JSON`, value: Buffer.from(`{"pan":x${PAN}}`), key: PAN }));
  await store.add(letter(9, { value: null, headers: { [BUS_HEADERS.correlationId]: 'c-1', [BUS_HEADERS.replyTo]: 'card.commands.reply' } }));
});

afterAll(() => {
  store?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('ledger-audit dead-letters', () => {
  it('lists the kept dead letters a page at a time, and never prints a card number', async () => {
    const first = await run('dead-letters', '--limit', '2', '--data-dir', dir);
    expect(first).toMatchObject({ code: 0, err: '' });
    expect(first.out).toContain('#1 ');
    expect(first.out).toContain('ledger.events[1]@7 group card-issuer, 5 attempts: RpcException: ledger unavailable');
    expect(first.out).toContain('"amount":"1050"');
    expect(first.out).toContain('2 of 3 dead letters shown; next page: --after 2');
    const second = await run('dead-letters', '--after', '2', '--limit', '2', '--data-dir', dir);
    expect(second.out).toContain('#3 ');
    expect(second.out).toContain('value: not kept');
    expect(second.out).toContain('1 of 3 dead letters shown\n');

    const json = await run('dead-letters', '--json', '--data-dir', dir);
    const page = JSON.parse(json.out) as { total: number; next: number | null; deadLetters: { id: number; key: string; value: unknown }[] };
    expect(page).toMatchObject({ total: 3, next: null });
    expect(page.deadLetters.map((shown) => shown.id)).toEqual([1, 2, 3]);
    expect(page.deadLetters[0].value).toEqual({ type: 'ledger.HoldPlaced.v1', data: { amount: '1050', memo: WITHHELD } });
    expect(page.deadLetters[1]).toMatchObject({ key: WITHHELD, value: WITHHELD });
    for (const output of [first.out, second.out, json.out]) expect(output).not.toContain('4111');
  });

  it('reads without writing: a data dir without the file is said so, and none is created', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'ledger-audit-dlq-none-'));
    try {
      expect(await run('dead-letters', '--data-dir', empty)).toMatchObject({ code: 0, out: expect.stringContaining('no dead letters') });
      expect(readdirSync(empty)).toEqual([]);
      const before = statSync(join(dir, DEAD_LETTERS_FILE)).mtimeMs;
      await run('dead-letters', '--data-dir', dir);
      expect(statSync(join(dir, DEAD_LETTERS_FILE)).mtimeMs).toBe(before);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });

  it('refuses a page size or start that is not one', async () => {
    for (const args of [['--limit', '0'], ['--limit', '1000'], ['--after', '-1'], ['--after', 'x'], ['--from', '2026-01-01']]) {
      expect(await run('dead-letters', ...args, '--data-dir', dir)).toMatchObject({ code: 2, err: expect.stringContaining('usage: ledger-audit') });
    }
  });
});
