// A period with more lines than a statement holds (STATEMENT_LINES_MAX): bad usage for `statement`,
// a violation for `verify-statement`, never a failure of the audit. The store is written directly
// (events decided by libs/ledger, as the benchmark does): the harness would take minutes for it.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Json, NewEvent } from '@ledger/contracts';
import { expectedState, SqliteEventStore } from '@ledger/event-store';
import { decide, evolve, initialState, LEDGER_META_STREAM, openSystemAccount, systemAccountId, type LedgerCommand } from '@ledger/ledger';
import { entry, openWallet } from '../../wallet-ledger/src/projections/testing/ledger-history';
import { STATEMENT_LINES_MAX } from './statement';
import { runAudit as run } from './testing/audit-fixture';

const T0 = Date.UTC(2026, 0, 1);
const APPEND_BATCH = 5_000;

let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ledger-audit-limit-'));
  const store = new SqliteEventStore({ file: join(dir, 'events.sqlite'), synchronous: 'NORMAL', nowMs: () => T0 });
  try {
    const stamp = (id: string) => ({ correlationId: id, causationId: id, actor: 'test', occurredAt: new Date(T0).toISOString() });
    await store.append(LEDGER_META_STREAM, [{ eventId: 'meta', type: 'ledger.ShardsConfigured.v1', schemaVersion: 1, data: { shards: 1 }, metadata: stamp('meta') }], expectedState.noStream);
    const funding = systemAccountId('funding', 'USD', 0);
    const commands: LedgerCommand[] = [openSystemAccount(funding)!, openWallet('w1', 'u1')];
    for (let index = 0; index <= STATEMENT_LINES_MAX; index++) commands.push(entry(`top-${index}`, `top-${index}`, 'top_up', funding, 'w1', 1n));
    const state = initialState();
    let batch: NewEvent[] = [];
    for (const [index, command] of commands.entries()) {
      const decision = decide(command, state, { nowMs: T0 });
      if (!decision.ok) throw new Error(`${command.type}: ${decision.error.code}`);
      for (const event of decision.events) {
        evolve(state, event);
        batch.push({ eventId: `e-${index}`, type: event.type, schemaVersion: 1, data: event.data as unknown as Json, metadata: stamp(`e-${index}`) });
      }
      if (batch.length >= APPEND_BATCH || index === commands.length - 1) {
        await store.append('ledger-0', batch, expectedState.any);
        batch = [];
      }
    }
  } finally {
    await store.close();
  }
}, 120_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

it('refuses a statement over more lines than it holds as bad usage, and verify-statement reports it', async () => {
  const period = ['--from', '2025-12-31T00:00:00.000Z', '--to', '2026-01-02T00:00:00.000Z'];
  const statement = await run('statement', '--wallet', 'w1', ...period, '--data-dir', dir);
  expect(statement).toMatchObject({ code: 2, err: expect.stringContaining(`more than ${STATEMENT_LINES_MAX} lines: ask for a shorter period`) });
  const file = join(dir, 'statement.json');
  const empty = { format: 'ledger-audit.statement.v1', walletId: 'w1', currency: 'USD', from: period[1], to: period[3], opening: { posted: '0', asOfPosition: '0' }, closing: { posted: '0', asOfPosition: '0' }, merkle: { leafCount: 0, root: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855' }, lines: [] };
  writeFileSync(file, JSON.stringify(empty));
  const verified = await run('verify-statement', file, '--data-dir', dir);
  expect(verified).toMatchObject({ code: 1, out: expect.stringContaining(`the store gives more than ${STATEMENT_LINES_MAX} lines for this wallet and period`) });
}, 120_000);
