// Card numbers where the audit prints caller text other than a plain reference: a hold (and so its
// capture's entry id) named by the network's authorization id, and separators the filter must see through.
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock } from '@ledger/contracts';
import { startHarness } from '../../wallet-ledger/src/testing/wallet-ledger.harness';
import { WITHHELD } from './card-number-filter';
import { runAudit as run } from './testing/audit-fixture';

const PAN = '4111111111111111';
/**
 * The PAN as it may be written: plain, grouped by dots, slashes, underscores, tabs, no-break spaces, full-width digits,
 * spaced dashes, en dashes, zero-width spaces (it prints as the plain PAN), Arabic-Indic digits.
 */
const FORMS = [
  PAN,
  '4111.1111.1111.1111',
  '4111/1111/1111/1111',
  '4111_1111_1111_1111',
  '4111\t1111\t1111\t1111',
  '4111\u00a01111\u00a01111\u00a01111',
  '４１１１１１１１１１１１１１１１',
  '4111 - 1111 - 1111 - 1111',
  '4111\u20131111\u20131111\u20131111',
  '4111\u200b1111\u200b1111\u200b1111',
  '\u0664\u0661\u0661\u0661\u0661\u0661\u0661\u0661\u0661\u0661\u0661\u0661\u0661\u0661\u0661\u0661',
];

describe('ledger-audit output never carries a card number', () => {
  it('withholds one in a capture entry id (the hold id) and in references written with other separators', async () => {
    const clock = new ManualClock(Date.UTC(2026, 0, 5, 9));
    const h = await startHarness({ clock });
    try {
      const walletId = '019b8d65-39a0-7000-9989-860abd3f0b20';
      const send = async (message: Parameters<typeof h.send>[0], key: string) => expect(await h.send(message, key)).toMatchObject({ ok: true });
      await send({ type: 'OpenWallet', walletId, ownerId: 'owner-1', currency: 'USD' }, 'open');
      for (const [index, form] of FORMS.entries()) await send({ type: 'TopUp', walletId, amount: '100', reference: `card ${form}` }, `top-up-${index}`);
      // A network's authorization id is free text; the card-issuer uses it as the hold id, and a capture's journal entry id is the hold id.
      await send({ type: 'PlaceHold', holdId: PAN, walletId, amount: '50' }, 'hold');
      await send({ type: 'CaptureHold', holdId: PAN, walletId, amount: '50' }, 'capture');
      clock.advance(60_000);
      await h.close();

      const outputs = {
        csv: await run('export', '--format', 'csv', '--data-dir', h.dataDir),
        jsonl: await run('export', '--format', 'jsonl', '--data-dir', h.dataDir),
        statement: await run('statement', '--wallet', walletId, '--from', '2026-01-01T00:00:00.000Z', '--to', '2100-01-01T00:00:00.000Z', '--data-dir', h.dataDir),
      };
      for (const [command, result] of Object.entries(outputs)) expect({ command, code: result.code }).toEqual({ command, code: 0 });
      expect(outputs.jsonl.out.trimEnd().split('\n')).toHaveLength(2 * (FORMS.length + 1));
      for (const [command, result] of Object.entries(outputs)) {
        for (const form of FORMS) expect({ command, form, leaks: `${result.out}${result.err}`.includes(form) }).toEqual({ command, form, leaks: false });
      }
      // The statement with a withheld entry id still verifies against the store.
      const file = join(h.dataDir, 'statement.json');
      writeFileSync(file, outputs.statement.out);
      expect(await run('verify-statement', file, '--data-dir', h.dataDir)).toMatchObject({ code: 0 });

      // A projection row that differs from the rebuild is printed column by column: the hold's line (transaction id = the
      // hold id) edited in the live file, so the rebuilt value beside it is the card number.
      const db = new Database(join(h.dataDir, 'wallet-ledger.sqlite'));
      expect(db.prepare("UPDATE transaction_lines SET transaction_id = 'edited' WHERE transaction_id = ?").run(PAN).changes).toBeGreaterThan(0);
      db.close();
      const out = mkdtempSync(join(tmpdir(), 'ledger-audit-leaks-'));
      try {
        const diffs = { verify: await run('verify', '--data-dir', h.dataDir), verifyJson: await run('verify', '--json', '--data-dir', h.dataDir), replay: await run('replay', '--out', join(out, 'replayed'), '--data-dir', h.dataDir) };
        for (const [command, result] of Object.entries(diffs)) {
          expect({ command, code: result.code, named: result.out.includes('transaction_id live edited, rebuilt') }).toEqual({ command, code: 1, named: true });
          expect({ command, leaks: `${result.out}${result.err}`.includes(PAN) }).toEqual({ command, leaks: false });
        }
      } finally {
        rmSync(out, { recursive: true, force: true });
      }

      // The capture edited so it no longer adds up: balance and statement fold the shard with evolve, which refuses it
      // naming the hold. They report the event (exit 1), not a crash whose message carries the hold id.
      const store = new Database(join(h.dataDir, 'events.sqlite'));
      const capture = store.prepare("SELECT stream_id AS streamId, position, revision FROM events WHERE type = 'ledger.HoldCaptured.v1'").get() as { streamId: string; position: number; revision: number };
      store.prepare("UPDATE events SET data = json_set(data, '$.releasedAmount', '7') WHERE position = ?").run(capture.position);
      store.close();
      const folds = {
        balance: await run('balance', '--account', walletId, '--data-dir', h.dataDir),
        statement: await run('statement', '--wallet', walletId, '--from', '2026-01-01T00:00:00.000Z', '--to', '2100-01-01T00:00:00.000Z', '--data-dir', h.dataDir),
      };
      for (const [command, result] of Object.entries(folds)) {
        expect({ command, code: result.code, leaks: `${result.out}${result.err}`.includes(PAN) }).toEqual({ command, code: 1, leaks: false });
        expect(result.out).toContain(`VIOLATION [ledger] stream=${capture.streamId} revision=${capture.revision} position=${capture.position}: the shard cannot be folded past this event (ledger invariant broken: hold ${WITHHELD}: capture does not add up); run verify`);
      }
    } finally {
      await h.close({ remove: true });
    }
  });
});
