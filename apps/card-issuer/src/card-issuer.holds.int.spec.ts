// Red-team round 9: the card-issuer's holds at the ledger through the bus (retries of a hold of
// CARD_HOLD_TIMEOUT_MS, limits across captures, reversals and expiries, recovery).
import { domainError, type AuthorizationView } from '@ledger/contracts';
import { waitFor } from '@ledger/contracts/testing';
import { accountShard } from '@ledger/ledger';
import { RECOVERY_MIN_AGE_UPSTREAM_TIMEOUTS } from './application/card-issuer.service';
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
