// The secrets scan: a run through every card command (issue, reveal, each decline, capture,
// reversal, refund, expiry, a crash and its recovery), then every PAN and CVV it issued or
// presented is looked for in the whole event store (data and metadata), the projection
// database, `cards.events`, every bus reply but RevealCard's, and every log line. None may be found.
import { Logger, type LoggerService } from '@nestjs/common';
import { waitFor } from '@ledger/contracts/testing';
import { CARD_TOPICS, type RevealedCard } from '@ledger/contracts';
import { authorize, authorizeMessage, cardholder, reveal } from './testing/card-fixtures';
import { startCardHarness, type CardHarness } from './testing/card-issuer.harness';

/** Everything a process could write to its logs, whoever logs it. */
class CapturingLogger implements LoggerService {
  readonly lines: string[] = [];
  log = (...parts: unknown[]) => void this.lines.push(parts.map(String).join(' '));
  error = this.log;
  warn = this.log;
  debug = this.log;
  verbose = this.log;
  fatal = this.log;
}

describe('no PAN or CVV outside RevealCard replies', () => {
  const logger = new CapturingLogger();
  let h: CardHarness;
  const written: string[] = [];
  let restoreWrites: () => void;

  beforeAll(() => {
    Logger.overrideLogger(logger);
    const out = process.stdout.write.bind(process.stdout);
    const err = process.stderr.write.bind(process.stderr);
    process.stdout.write = ((chunk: unknown, ...rest: unknown[]) => (written.push(String(chunk)), out(chunk as string, ...(rest as []))) ) as typeof process.stdout.write;
    process.stderr.write = ((chunk: unknown, ...rest: unknown[]) => (written.push(String(chunk)), err(chunk as string, ...(rest as [])))) as typeof process.stderr.write;
    restoreWrites = () => {
      process.stdout.write = out;
      process.stderr.write = err;
    };
  });

  afterAll(async () => {
    restoreWrites();
    Logger.overrideLogger(['error', 'warn']);
    await h?.close({ remove: true });
  });

  it('finds none in the store, the projection, cards.events, replies or logs', async () => {
    const crash = { armed: false };
    h = await startCardHarness({
      env: { CARD_HOLD_TIMEOUT_MS: '60000' },
      afterLedgerReply: (operation) => {
        if (crash.armed && operation === 'hold') throw new Error('simulated crash');
      },
    });
    const published: string[] = [];
    const consumer = await h.ledger.bus.subscribe({ topics: [CARD_TOPICS.events], groupId: 'secrets-scan', handler: async (message) => void published.push(message.value.toString('utf8')) });
    const replies: string[] = [];
    const send = async (...args: Parameters<CardHarness['send']>) => {
      const reply = await h.send(...args);
      replies.push(JSON.stringify(reply));
      return reply;
    };

    const secrets: RevealedCard[] = [];
    const presentedCvvs: string[] = [];
    for (let i = 0; i < 3; i++) {
      const holder = await cardholder(h, { topUp: '30000', spendingControls: { daily: '25000', blockedMccs: ['7995'] } });
      secrets.push(holder.secrets, await reveal(h, holder.card));
      const s = holder.secrets;
      const wrongCvv = String((Number(s.cvv) + 7) % 1000).padStart(3, '0');
      presentedCvvs.push(wrongCvv);
      const approved = authorizeMessage(s, { amount: '10000' });
      await authorize(h, approved);
      for (const overrides of [{ cvv: wrongCvv }, { expMonth: (s.expMonth % 12) + 1 }, { amount: '20000' }, { merchant: { name: 'Casino', mcc: '7995', country: 'FR' } }, { currency: 'EUR' }]) {
        replies.push(JSON.stringify(await send(authorizeMessage(s, overrides))));
      }
      await send({ ...authorizeMessage(s), pan: `${s.pan}9` }); // malformed: 17 digits is still a PAN shape, unknown card
      await send({ ...authorizeMessage(s), cvv: `${s.cvv}x` }); // malformed CVV
      await send({ type: 'CaptureAuthorization', authorizationId: approved.authorizationId, amount: '6000' });
      await send({ type: 'RefundAuthorization', refundId: `refund-${i}`, authorizationId: approved.authorizationId, amount: '1000' });
      const reversed = authorizeMessage(s, { amount: '3000' });
      await authorize(h, reversed);
      await send({ type: 'ReverseAuthorization', authorizationId: reversed.authorizationId, amount: '1000' });
      await send({ type: 'ReverseAuthorization', authorizationId: reversed.authorizationId });
      const expiring = authorizeMessage(s, { amount: '2000' });
      await authorize(h, expiring);
      crash.armed = true;
      await send(authorizeMessage(s, { amount: '5000' }));
      crash.armed = false;
      await send({ type: 'FreezeCard', cardId: holder.card.id });
      await send(authorizeMessage(s, { amount: '1' }));
      await send({ type: 'CancelCard', cardId: holder.card.id });
    }
    h.clock.advance(60_001);
    await h.restartCards(); // recovers the interrupted ones
    await waitFor('every hold to expire and be recorded', async () => {
      const rows = h.db.prepare(`SELECT COUNT(*) AS open FROM card_authorizations WHERE phase IN ('pending', 'requested')`).get() as { open: number };
      expect(rows.open).toBe(0);
    }, { timeoutMs: 10_000 });
    await h.cards.relay.waitForPosition(await h.ledger.store.headPosition());
    await waitFor('cards.events to be consumed', () => published.length > 0);
    await consumer.stop();

    const pans = [...new Set(secrets.map((s) => s.pan))];
    const cvvs = [...new Set([...secrets.map((s) => s.cvv), ...presentedCvvs])];
    expect(pans).toHaveLength(3);

    const events = await readAllEvents(h);
    const projection = dumpDatabase(h);
    const logs = [...logger.lines, ...written].join('\n');
    expect(logs).toContain('simulated crash'); // the capture works: the crash's log line is in it
    expect(events).toContain('cards.AuthorizationDeclined.v1');
    expect(projection).toContain('cvv_mismatch');
    for (const [name, text] of Object.entries({ events, projection, published: published.join('\n'), replies: replies.join('\n'), logs })) {
      for (const pan of pans) {
        expect({ name, found: text.includes(pan) || text.includes(pan.slice(0, -1)) }).toEqual({ name, found: false });
      }
      for (const cvv of cvvs) {
        expect({ name, cvv: cvvFoundIn(name, text, cvv) ? cvv : 'absent' }).toEqual({ name, cvv: 'absent' });
      }
    }
  });
});

async function readAllEvents(h: CardHarness): Promise<string> {
  const parts: string[] = [];
  let after = 0n;
  for (;;) {
    const page = await h.ledger.store.readAll({ afterPosition: after, maxCount: 500 });
    if (page.length === 0) break;
    for (const event of page) parts.push(JSON.stringify({ type: event.type, streamId: event.streamId, data: event.data, metadata: event.metadata }));
    after = page[page.length - 1].position;
  }
  return parts.join('\n');
}

/** Keys whose values are counters written as digit strings (bigints): a three-digit one may equal a CVV by chance. */
const COUNTER_KEYS: ReadonlySet<string> = new Set(['position', 'globalPosition', 'revision', 'streamRevision', 'checkpoint', 'last_position']);

/**
 * A CVV is three digits, so it is looked for as a value of its own: in log lines a token of its own,
 * in JSON any string value equal to it, except under a counter's key (every amount of this run has 4+ digits).
 */
function cvvFoundIn(name: string, text: string, cvv: string): boolean {
  if (name === 'logs') return new RegExp(`(?<![0-9A-Za-z])${cvv}(?![0-9A-Za-z])`).test(text);
  for (const match of text.matchAll(new RegExp(`(?:"([A-Za-z_]+)"\\s*:\\s*)?"${cvv}"`, 'g'))) {
    if (match[1] === undefined || !COUNTER_KEYS.has(match[1])) return true;
  }
  return false;
}

function dumpDatabase(h: CardHarness): string {
  const tables = h.db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table'`).all() as { name: string }[];
  return tables.map((table) => JSON.stringify(h.db.prepare(`SELECT * FROM "${table.name}"`).all(), (_key, value: unknown) => (typeof value === 'bigint' ? value.toString() : value))).join('\n');
}

