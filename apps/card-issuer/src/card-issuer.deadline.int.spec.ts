// A request's deadline travels with it: the card-issuer does not keep waiting for the ledger once
// its own caller (the gateway, the network behind it) has given up. It waited out its own
// CARD_UPSTREAM_TIMEOUT_MS (10 s) while the gateway answered the network at 5 s, then approved:
// the network, told the authorization failed, never captured nor reversed it (it has no id to
// reverse), and the hold kept the customer's money until HOLD_TIMEOUT_MS (7 days).
import { CARD_TOPICS, cardKeyOf, type AuthorizationView, type CardCommandEnvelope, type Reply } from '@ledger/contracts';
import { gate, waitFor } from '@ledger/contracts/testing';
import { accountShard } from '@ledger/ledger';
import { BusClientProxy, keyed, RequestTimeoutError } from '@ledger/messaging';
import { firstValueFrom } from 'rxjs';
import { RECOVERY_MIN_AGE_UPSTREAM_TIMEOUTS } from './application/card-issuer.service';
import { loadCardIssuerConfig } from './card-issuer.config';
import { requestedAuthorizations } from './projections/card-issuer.projection';
import { authorizeMessage, cardholder } from './testing/card-fixtures';
import { LEDGER_SHARDS, startCardHarness, type CardHarness } from './testing/card-issuer.harness';

/** The gateway's BUS_REQUEST_TIMEOUT_MS in this test: far below the issuer's CARD_UPSTREAM_TIMEOUT_MS. */
const GATEWAY_TIMEOUT_MS = 1_000;

describe('card-issuer: the deadline of a request', () => {
  let h: CardHarness;
  let gateway: BusClientProxy;
  /** Holds the ledger's holds; opened at the end whatever happened, so closing does not wait on it. */
  let ledgerSlow: ReturnType<typeof gate>;

  beforeEach(async () => {
    ledgerSlow = gate();
    h = await startCardHarness();
    gateway = new BusClientProxy(h.ledger.bus, { clientId: 'impatient-gateway', requestTimeoutMs: GATEWAY_TIMEOUT_MS });
  });

  afterEach(async () => {
    ledgerSlow.open();
    await gateway.close();
    await h.close({ remove: true });
  });

  it('an authorization its caller gave up on while the ledger was slow holds nothing once recovered', async () => {
    const { walletId, secrets } = await cardholder(h);
    const writer = h.ledger.ledger.service.writer(accountShard(walletId, LEDGER_SHARDS))!;
    const pendingOf = () => writer.currentState.accounts.get(walletId)!.debitsPending;
    // The ledger takes its time with holds (a backlog on the shard): each PlaceHold waits for the gate.
    const submit = writer.submit.bind(writer);
    jest.spyOn(writer, 'submit').mockImplementation(async (command) => {
      if (command.type === 'PlaceHold') await ledgerSlow.promise;
      return submit(command);
    });
    const message = authorizeMessage(secrets, { amount: '400' });
    const envelope: CardCommandEnvelope = { ...message, meta: { idempotencyKey: 'network-key-1', actor: 'network' } };
    const answer = firstValueFrom(gateway.send<Reply<AuthorizationView>>(CARD_TOPICS.commands, keyed(cardKeyOf(message), envelope)));
    // The network hears "failed" (the gateway's timeout, or the issuer's unavailable at the same deadline); nobody retries.
    const heard = await answer.then(
      (reply) => (reply.ok ? 'approved' : reply.error.code),
      (error: unknown) => (error instanceof RequestTimeoutError ? 'timed out' : String(error)),
    );
    expect(['timed out', 'unavailable']).toContain(heard);
    await waitFor('the authorization requested', () => requestedAuthorizations(h.db).some((each) => each.authorizationId === message.authorizationId));
    ledgerSlow.open();

    // The issuer's recovery, once the authorization is old enough, finishes what nobody waits for any more (after the issuer's own try: the card's lock).
    h.clock.advance(RECOVERY_MIN_AGE_UPSTREAM_TIMEOUTS * loadCardIssuerConfig({}).CARD_UPSTREAM_TIMEOUT_MS + 1);
    await h.cards.service.recoverRequested();
    expect(pendingOf()).toBe(0n);
    expect(await h.query({ type: 'GetAuthorization', authorizationId: message.authorizationId })).toMatchObject({
      ok: true,
      value: { approved: false, responseCode: '05', reason: 'issuer_recovered' },
    });
  });

  it('approves the retry: the abandoned authorization is finished at once, not counted against limits and funds until recovery', async () => {
    // The card's daily limit and the wallet's funds fit exactly one authorization of 400.
    const { walletId, secrets } = await cardholder(h, { topUp: '400', spendingControls: { daily: '400' } });
    const writer = h.ledger.ledger.service.writer(accountShard(walletId, LEDGER_SHARDS))!;
    const submit = writer.submit.bind(writer);
    jest.spyOn(writer, 'submit').mockImplementation(async (command) => {
      if (command.type === 'PlaceHold') await ledgerSlow.promise;
      return submit(command);
    });
    const first = authorizeMessage(secrets, { amount: '400' });
    const envelope: CardCommandEnvelope = { ...first, meta: { idempotencyKey: 'network-key-1', actor: 'network' } };
    const heard = await firstValueFrom(gateway.send<Reply<AuthorizationView>>(CARD_TOPICS.commands, keyed(cardKeyOf(first), envelope))).then(
      (reply) => (reply.ok ? 'approved' : reply.error.code),
      (error: unknown) => (error instanceof RequestTimeoutError ? 'timed out' : String(error)),
    );
    expect(['timed out', 'unavailable']).toContain(heard);
    await waitFor('the first authorization requested', () => requestedAuthorizations(h.db).some((each) => each.authorizationId === first.authorizationId));
    ledgerSlow.open();

    // The network, told the first failed, sends the authorization again: a new request, a new key (no recovery pass has run).
    const retry = authorizeMessage(secrets, { amount: '400' });
    expect(await h.send(retry, 'network-key-2')).toMatchObject({ ok: true, value: { approved: true, responseCode: '00' } });
    expect(writer.currentState.accounts.get(walletId)!.debitsPending).toBe(400n);
    expect(await h.query({ type: 'GetAuthorization', authorizationId: first.authorizationId })).toMatchObject({
      ok: true,
      value: { approved: false, responseCode: '05', reason: 'issuer_recovered', heldAmount: '0' },
    });
  });
});

describe('card-issuer: recovery while the ledger does not answer', () => {
  let h: CardHarness;
  /** Holds the shard's writer; opened at the end whatever happened, so closing does not wait on it. */
  const ledgerStuck = gate();

  afterEach(async () => {
    ledgerStuck.open();
    await h.close({ remove: true });
  });

  it('leaves an authorization whose hold request timed out for later, and still starts', async () => {
    const upstreamTimeoutMs = 500;
    h = await startCardHarness({ env: { CARD_UPSTREAM_TIMEOUT_MS: String(upstreamTimeoutMs), CARD_RECOVERY_INTERVAL_MS: '0' } });
    const { walletId, secrets } = await cardholder(h);
    const writer = h.ledger.ledger.service.writer(accountShard(walletId, LEDGER_SHARDS))!;
    // The shard's writer is stuck (a long backlog, a store that hangs): no PlaceHold is answered until the gate opens.
    const submit = writer.submit.bind(writer);
    jest.spyOn(writer, 'submit').mockImplementation(async (command) => {
      if (command.type === 'PlaceHold') await ledgerStuck.promise;
      return submit(command);
    });
    const message = authorizeMessage(secrets, { amount: '250' });
    expect(await h.send(message)).toMatchObject({ ok: false, error: { code: 'unavailable' } });
    h.clock.advance(RECOVERY_MIN_AGE_UPSTREAM_TIMEOUTS * upstreamTimeoutMs + 1);

    // Recovery asks the ledger, which does not answer in time: the authorization is left, the pass and the start go on.
    await expect(h.cards.service.recoverRequested()).resolves.toEqual({ recovered: 0, left: 1 });
    const restarted = await h.restartCards({ env: { CARD_UPSTREAM_TIMEOUT_MS: String(upstreamTimeoutMs), CARD_RECOVERY_INTERVAL_MS: '0' } });
    expect(restarted.recovery).toEqual({ recovered: 0, left: 1 });

    ledgerStuck.open();
    await waitFor('the authorization recovered', async () => {
      expect(await h.cards.service.recoverRequested()).toEqual({ recovered: 0, left: 0 });
    });
    expect(writer.currentState.accounts.get(walletId)!.debitsPending).toBe(0n);
    expect(await h.query({ type: 'GetAuthorization', authorizationId: message.authorizationId })).toMatchObject({
      ok: true,
      value: { approved: false, responseCode: '05', reason: 'issuer_recovered' },
    });
  });
});
