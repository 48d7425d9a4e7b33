// Red-team round 9: the card-issuer's holds at the ledger through the bus (retries of a hold of
// CARD_HOLD_TIMEOUT_MS, limits across captures, reversals and expiries, recovery).
import { domainError, type AuthorizationView } from '@ledger/contracts';
import { waitFor } from '@ledger/contracts/testing';
import { accountShard } from '@ledger/ledger';
import { CardIssuerService, RECOVERY_MIN_AGE_UPSTREAM_TIMEOUTS, type CardIssuerServiceDeps } from './application/card-issuer.service';
import { loadCardIssuerConfig } from './card-issuer.config';
import { authorize, authorizeMessage, cardholder } from './testing/card-fixtures';
import { LEDGER_SHARDS, processedLedgerEvents, startCardHarness, type CardHarness } from './testing/card-issuer.harness';

describe('card-issuer holds', () => {
  let h: CardHarness | undefined;

  afterEach(async () => {
    await h?.close({ remove: true });
    h = undefined;
  });

  it('a hold recovery released while its answer was lost is declined, never approved by the network\'s retry on nothing held', async () => {
    const crash = { armed: true };
    h = await startCardHarness({
      afterLedgerReply: (operation) => {
        if (crash.armed && operation === 'hold') throw new Error('simulated failure after the hold');
      },
    });
    const harness = h;
    const { walletId, secrets } = await cardholder(harness, { spendingControls: { daily: '1000' } });
    const message = authorizeMessage(secrets, { amount: '700' });
    expect(await harness.send(message, 'auth')).toMatchObject({ ok: false, error: { code: 'unavailable' } });
    crash.armed = false;
    // Recovery's release goes through at the ledger, but its answer is lost (a timeout): the authorization stays requested.
    const writer = harness.ledger.ledger.service.writer(accountShard(walletId, LEDGER_SHARDS))!;
    const submit = writer.submit.bind(writer);
    const lost = { armed: true };
    jest.spyOn(writer, 'submit').mockImplementation(async (command) => {
      const reply = await submit(command);
      if (!lost.armed || command.type !== 'ReleaseHold') return reply;
      lost.armed = false;
      return { ok: false, error: domainError('unavailable', 'the answer was lost', { retryable: true }) };
    });
    const before = processedLedgerEvents(harness);
    harness.clock.advance(RECOVERY_MIN_AGE_UPSTREAM_TIMEOUTS * loadCardIssuerConfig({}).CARD_UPSTREAM_TIMEOUT_MS + 1);
    expect(await harness.cards.service.recoverRequested()).toEqual({ recovered: 0, left: 1 });
    expect(writer.currentState.holds.get(message.authorizationId)).toMatchObject({ status: 'released' });
    await waitFor('the issuer to see the release', () => processedLedgerEvents(harness) > before);

    // The network's retry, before the next recovery pass: the ledger replays the hold's placing, but nothing is held any more.
    const retried = await harness.send<AuthorizationView>(message, 'auth');
    expect(retried).toMatchObject({ ok: true, value: { approved: false, responseCode: '05', reason: 'issuer_recovered', status: 'declined', heldAmount: '0' } });
    expect(await harness.send({ type: 'CaptureAuthorization', authorizationId: message.authorizationId, amount: '700' }, 'capture')).toMatchObject({
      ok: false,
      error: { code: 'hold_not_pending' },
    });
    // Nothing is left counted against the daily limit.
    expect(await authorize(harness, authorizeMessage(secrets, { amount: '1000' }))).toMatchObject({ approved: true });
  });
});

describe('card-issuer releases owed across restarts', () => {
  let h: CardHarness | undefined;

  afterEach(async () => {
    jest.restoreAllMocks();
    await h?.close({ remove: true });
    h = undefined;
  });

  function failAfterHold(crash: { armed: boolean }, operation: string): void {
    if (crash.armed && operation === 'hold') throw new Error('simulated failure after the hold');
  }

  /** Authorizations (one card) whose holds the ledger placed, declined by recovery while the ledger refused (did not run) their releases. */
  async function declinedWithHoldsPending(harness: CardHarness, amounts: string[]) {
    const { walletId, secrets } = await cardholder(harness);
    const messages = amounts.map((amount) => authorizeMessage(secrets, { amount }));
    for (const message of messages) expect(await harness.send(message)).toMatchObject({ ok: false, error: { code: 'unavailable' } });
    const writer = harness.ledger.ledger.service.writer(accountShard(walletId, LEDGER_SHARDS))!;
    const submit = writer.submit.bind(writer);
    const down = jest.spyOn(writer, 'submit').mockImplementation(async (command) =>
      command.type === 'ReleaseHold' ? { ok: false, error: domainError('unavailable', 'the shard is down', { retryable: true }) } : submit(command),
    );
    harness.clock.advance(RECOVERY_MIN_AGE_UPSTREAM_TIMEOUTS * loadCardIssuerConfig({}).CARD_UPSTREAM_TIMEOUT_MS + 1);
    expect(await harness.cards.service.recoverRequested()).toEqual({ recovered: 0, left: amounts.length });
    down.mockRestore();
    for (const message of messages) {
      expect(await harness.query({ type: 'GetAuthorization', authorizationId: message.authorizationId })).toMatchObject({ ok: true, value: { status: 'declined', reason: 'issuer_recovered' } });
      expect(writer.currentState.holds.get(message.authorizationId)).toMatchObject({ status: 'pending' });
    }
    return { walletId, writer, messages };
  }

  async function declinedWithHoldPending(harness: CardHarness, amount: string) {
    const { messages, ...rest } = await declinedWithHoldsPending(harness, [amount]);
    return { ...rest, message: messages[0] };
  }

  it('a release unanswered when the decline was recorded is sent by the next process: the crash between them holds no money for 7 days', async () => {
    const crash = { armed: true };
    h = await startCardHarness({ afterLedgerReply: (operation) => failAfterHold(crash, operation) });
    const { walletId, writer, message } = await declinedWithHoldPending(h, '800');
    crash.armed = false;
    // The process stops before its next pass: what it owed in memory is gone.
    const restarted = await h.restartCards();
    expect(restarted.recovery).toEqual({ recovered: 0, left: 0 });
    expect(writer.currentState.holds.get(message.authorizationId)).toMatchObject({ status: 'released', heldAmount: 0n });
    expect(writer.currentState.accounts.get(walletId)).toMatchObject({ debitsPending: 0n });
    // Checked once per process: the next pass sends nothing more.
    const sent = jest.spyOn(writer, 'submit');
    expect(await h.cards.service.recoverRequested()).toEqual({ recovered: 0, left: 0 });
    expect(sent).not.toHaveBeenCalled();
  });

  it('two processes owing the same release release the hold once', async () => {
    const crash = { armed: true };
    h = await startCardHarness({ afterLedgerReply: (operation) => failAfterHold(crash, operation) });
    const harness = h;
    const { walletId, writer, message } = await declinedWithHoldPending(harness, '600');
    crash.armed = false;
    const deps = (harness.cards.service as unknown as { deps: CardIssuerServiceDeps }).deps;
    const released = jest.spyOn(writer, 'submit');
    const passes = await Promise.all([harness.cards.service.recoverRequested(), new CardIssuerService(deps).recoverRequested()]);
    expect(passes).toEqual([{ recovered: 0, left: 0 }, { recovered: 0, left: 0 }]);
    expect(writer.currentState.holds.get(message.authorizationId)).toMatchObject({ status: 'released', heldAmount: 0n });
    expect(writer.currentState.accounts.get(walletId)).toMatchObject({ debitsPending: 0n });
    const releasedEvents = (await harness.ledger.store.readAll({ maxCount: 10_000 })).filter((event) => event.type === 'ledger.HoldReleased.v1' && (event.data as { holdId?: string }).holdId === message.authorizationId);
    expect(releasedEvents).toHaveLength(1);
    expect(released.mock.calls.filter(([command]) => command.type === 'ReleaseHold').length).toBeGreaterThanOrEqual(1);
  });

  it('a release the ledger refuses for good is passed over: the holds declined after it are still released', async () => {
    const crash = { armed: true };
    h = await startCardHarness({ afterLedgerReply: (operation) => failAfterHold(crash, operation) });
    const { writer, messages } = await declinedWithHoldsPending(h, ['300', '200']);
    crash.armed = false;
    // The one declined first (the scan's order) meets a refusal no retry changes.
    const [refused, released] = h.db
      .prepare<[], { authorization_id: string }>("SELECT authorization_id FROM card_authorizations WHERE phase = 'declined' ORDER BY updated_position")
      .all()
      .map((row) => row.authorization_id);
    expect([refused, released].sort()).toEqual(messages.map((message) => message.authorizationId).sort());
    const submit = writer.submit.bind(writer);
    jest.spyOn(writer, 'submit').mockImplementation(async (command) =>
      command.type === 'ReleaseHold' && command.holdId === refused ? { ok: false, error: domainError('validation_failed', 'refused for good') } : submit(command),
    );
    await h.restartCards();
    expect(writer.currentState.holds.get(released)).toMatchObject({ status: 'released', heldAmount: 0n });
    expect(writer.currentState.holds.get(refused)).toMatchObject({ status: 'pending' });
  });

  it('a retry declined 62 on a card canceled since its hold, its release unanswered, has the hold released by the next process', async () => {
    const crash = { armed: true };
    h = await startCardHarness({ afterLedgerReply: (operation) => failAfterHold(crash, operation) });
    const { walletId, card, secrets } = await cardholder(h);
    const message = authorizeMessage(secrets, { amount: '900' });
    expect(await h.send(message, 'net-key')).toMatchObject({ ok: false, error: { code: 'unavailable' } });
    crash.armed = false;
    expect(await h.send({ type: 'CancelCard', cardId: card.id })).toMatchObject({ ok: true, value: { status: 'canceled' } });
    const writer = h.ledger.ledger.service.writer(accountShard(walletId, LEDGER_SHARDS))!;
    const submit = writer.submit.bind(writer);
    const down = jest.spyOn(writer, 'submit').mockImplementation(async (command) =>
      command.type === 'ReleaseHold' ? { ok: false, error: domainError('unavailable', 'the shard is down', { retryable: true }) } : submit(command),
    );
    expect(await h.send(message, 'net-key')).toMatchObject({ ok: true, value: { approved: false, responseCode: '62', reason: 'card_canceled' } });
    down.mockRestore();
    expect(writer.currentState.holds.get(message.authorizationId)).toMatchObject({ status: 'pending' });
    await h.restartCards();
    expect(writer.currentState.holds.get(message.authorizationId)).toMatchObject({ status: 'released', heldAmount: 0n });
    expect(writer.currentState.accounts.get(walletId)).toMatchObject({ debitsPending: 0n });
  });
});
