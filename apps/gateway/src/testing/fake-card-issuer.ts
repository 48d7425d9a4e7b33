// A stand-in for the card-issuer on `cards.commands` / `cards.queries`, for the gateway's route
// tests until the real one (apps/card-issuer) lands: the same wire contract (libs/contracts
// card-messages.ts), answered from memory. Minimal on purpose: it asks the ledger only for a
// wallet's owner and currency, identity for step-up, and holds no money (no ledger holds); enough
// to route, validate, authorize, check ownership and replay.
import { randomInt } from 'node:crypto';
import { Controller, Inject, Module, type DynamicModule, type INestMicroservice } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { MessagePattern, Payload } from '@nestjs/microservices';
import {
  amountOf,
  CARD_TOPICS,
  decodePageCursor,
  domainError,
  encodePageCursor,
  toIsoTime,
  type AuthorizationView,
  type CardCommandEnvelope,
  type CardQueryMessage,
  type CardView,
  type Clock,
  type ErrorCode,
  type IsoResponseCode,
  type Reply,
  type TransactionView,
  type WalletView,
} from '@ledger/contracts';
import { BusClientProxy, BusServer, IdentityClient, LedgerClient, type MessageBus } from '@ledger/messaging';

/** The fake's BIN (Visa's test range), so its PANs look like cards and pass Luhn. */
export const FAKE_BIN = '400000';
const VALIDITY_YEARS = 3;

interface FakeCard {
  view: CardView;
  readonly pan: string;
  readonly cvv: string;
}

interface FakeAuthorization {
  view: AuthorizationView;
}

export class FakeCardIssuer {
  private readonly cards = new Map<string, FakeCard>();
  private readonly cardIdsByPan = new Map<string, string>();
  private readonly authorizations = new Map<string, FakeAuthorization>();
  private readonly refunds = new Map<string, TransactionView>();
  /** Every command received, for tests that check what the gateway sent (PANs included: tests only). */
  readonly received: CardCommandEnvelope[] = [];

  constructor(
    private readonly clock: Clock,
    private readonly ledger: LedgerClient,
    private readonly identity: IdentityClient,
  ) {}

  /** The clear PAN and CVV of an issued card (what a cardholder would read off a reveal). */
  secretsOf(cardId: string): { pan: string; cvv: string; expMonth: number; expYear: number } {
    const card = this.cards.get(cardId);
    if (card === undefined) throw new Error(`no fake card ${cardId}`);
    return { pan: card.pan, cvv: card.cvv, expMonth: card.view.expMonth, expYear: card.view.expYear };
  }

  async command(message: CardCommandEnvelope): Promise<Reply<unknown>> {
    this.received.push(message);
    switch (message.type) {
      case 'IssueCard': {
        const existing = this.cards.get(message.cardId);
        if (existing !== undefined) return { ok: true, value: existing.view };
        const wallet = await this.ledger.query<WalletView>({ type: 'GetWallet', walletId: message.walletId, consistency: 'eventual' });
        if (!wallet.ok) return wallet;
        if (wallet.value.status === 'closed') return failure('wallet_not_active', 'the wallet is closed');
        const now = new Date(this.clock.nowMs());
        const pan = newPan();
        const view: CardView = {
          id: message.cardId,
          walletId: message.walletId,
          ownerId: message.ownerId,
          currency: wallet.value.currency,
          last4: pan.slice(-4),
          brand: 'visa',
          expMonth: now.getUTCMonth() + 1,
          expYear: now.getUTCFullYear() + VALIDITY_YEARS,
          status: 'active',
          label: message.label ?? null,
          spendingControls: message.spendingControls ?? {},
          createdAt: toIsoTime(this.clock.nowMs()),
        };
        this.cards.set(view.id, { view, pan, cvv: String(randomInt(0, 1000)).padStart(3, '0') });
        this.cardIdsByPan.set(pan, view.id);
        return { ok: true, value: view };
      }
      case 'RevealCard': {
        const card = this.cards.get(message.cardId);
        if (card === undefined) return failure('not_found', 'no such card');
        const stepUp = await this.identity.command({
          type: 'VerifyStepUp',
          userId: message.userId,
          ...(message.password === undefined ? {} : { password: message.password }),
          ...(message.totp === undefined ? {} : { totp: message.totp }),
          meta: { ...message.meta, actor: 'card-issuer' },
        });
        if (!stepUp.ok) return failure('step_up_required', 'confirm with a valid password or TOTP code');
        return { ok: true, value: this.secretsOf(card.view.id) };
      }
      case 'FreezeCard':
        return this.setStatus(message.cardId, 'frozen');
      case 'UnfreezeCard':
        return this.setStatus(message.cardId, 'active');
      case 'CancelCard':
        return this.setStatus(message.cardId, 'canceled');
      case 'SetSpendingControls': {
        const card = this.cards.get(message.cardId);
        if (card === undefined) return failure('not_found', 'no such card');
        card.view = { ...card.view, spendingControls: message.spendingControls };
        return { ok: true, value: card.view };
      }
      case 'Authorize':
        return { ok: true, value: this.authorize(message) };
      case 'CaptureAuthorization': {
        const authorization = this.authorizations.get(message.authorizationId);
        if (authorization === undefined) return failure('not_found', 'no such authorization');
        const { view } = authorization;
        if (view.status !== 'pending') return failure('hold_not_pending', `the authorization is ${view.status}`);
        if (amountOf(message.amount) > amountOf(view.heldAmount)) return failure('amount_exceeds_hold', 'more than the held amount');
        authorization.view = { ...view, status: 'captured', capturedAmount: message.amount, heldAmount: '0' };
        return { ok: true, value: authorization.view };
      }
      case 'ReverseAuthorization': {
        const authorization = this.authorizations.get(message.authorizationId);
        if (authorization === undefined) return failure('not_found', 'no such authorization');
        const { view } = authorization;
        if (view.status !== 'pending') return failure('hold_not_pending', `the authorization is ${view.status}`);
        const held = amountOf(view.heldAmount);
        const reversed = message.amount === undefined ? held : amountOf(message.amount);
        if (reversed > held) return failure('amount_exceeds_hold', 'more than the held amount');
        authorization.view = { ...view, heldAmount: String(held - reversed), status: held === reversed ? 'reversed' : 'pending' };
        return { ok: true, value: authorization.view };
      }
      case 'RefundAuthorization': {
        const done = this.refunds.get(message.refundId);
        if (done !== undefined) return { ok: true, value: done };
        const authorization = this.authorizations.get(message.authorizationId);
        if (authorization === undefined) return failure('not_found', 'no such authorization');
        const { view } = authorization;
        const refundable = amountOf(view.capturedAmount) - amountOf(view.refundedAmount);
        if (amountOf(message.amount) > refundable) return failure('amount_exceeds_hold', 'more than the captured amount less refunds');
        authorization.view = { ...view, refundedAmount: String(amountOf(view.refundedAmount) + amountOf(message.amount)) };
        const refund: TransactionView = {
          id: message.refundId,
          kind: 'card_refund',
          status: 'posted',
          amount: message.amount,
          currency: view.currency,
          ...(view.walletId === null ? {} : { toWalletId: view.walletId }),
          createdAt: toIsoTime(this.clock.nowMs()),
        };
        this.refunds.set(message.refundId, refund);
        return { ok: true, value: refund };
      }
    }
  }

  query(message: CardQueryMessage): Reply<unknown> {
    switch (message.type) {
      case 'GetCard': {
        const card = this.cards.get(message.cardId);
        return card === undefined ? failure('not_found', 'no such card') : { ok: true, value: card.view };
      }
      case 'ListCards':
        return { ok: true, value: { items: [...this.cards.values()].map((card) => card.view).filter((view) => view.ownerId === message.ownerId) } };
      case 'GetAuthorization': {
        const authorization = this.authorizations.get(message.authorizationId);
        return authorization === undefined ? failure('not_found', 'no such authorization') : { ok: true, value: authorization.view };
      }
      case 'ListAuthorizations': {
        const items = [...this.authorizations.values()].map((a) => a.view).filter((view) => view.cardId === message.cardId);
        // The cursor is the next item's index here (the card-issuer's is a stream position): the same opaque format.
        const from = message.cursor === undefined ? 0 : Number(decodePageCursor(message.cursor)?.position ?? -1);
        if (from < 0) return failure('validation_failed', 'cursor: not a cursor this API gave out');
        const limit = message.limit ?? 50;
        const nextCursor = items.length > from + limit ? encodePageCursor(BigInt(from + limit), 0n) : null;
        return { ok: true, value: { items: items.reverse().slice(from, from + limit), nextCursor } };
      }
    }
  }

  /** The order of checks, without the ledger: an approval holds nothing here. */
  private authorize(message: Extract<CardCommandEnvelope, { type: 'Authorize' }>): AuthorizationView {
    const existing = this.authorizations.get(message.authorizationId);
    if (existing !== undefined) return existing.view; // a retry never authorizes twice
    const cardId = this.cardIdsByPan.get(message.pan);
    const card = cardId === undefined ? undefined : this.cards.get(cardId);
    const decline = (responseCode: IsoResponseCode, reason: string) => ({ approved: false, responseCode, reason });
    const now = new Date(this.clock.nowMs());
    const controls = card?.view.spendingControls;
    const outcome =
      card === undefined
        ? decline('14', 'unknown_card')
        : card.view.expYear * 12 + card.view.expMonth < now.getUTCFullYear() * 12 + now.getUTCMonth() + 1 ||
            message.expYear !== card.view.expYear ||
            message.expMonth !== card.view.expMonth
          ? decline('54', 'expired_card')
          : message.cvv !== card.cvv
            ? decline('N7', 'cvv_mismatch')
            : card.view.status !== 'active'
              ? decline('62', `card_${card.view.status}`)
              : controls?.blockedMccs?.includes(message.merchant.mcc) ||
                  (controls?.allowedCountries !== undefined && !controls.allowedCountries.includes(message.merchant.country))
                ? decline('57', 'merchant_not_allowed')
                : controls?.perAuthorization !== undefined && amountOf(message.amount) > amountOf(controls.perAuthorization)
                  ? decline('61', 'over_limit')
                  : { approved: true, responseCode: '00' as const, reason: 'approved' };
    const view: AuthorizationView = {
      id: message.authorizationId,
      cardId: card?.view.id ?? null,
      ...outcome,
      amount: message.amount,
      currency: message.currency,
      heldAmount: outcome.approved ? message.amount : '0',
      capturedAmount: '0',
      refundedAmount: '0',
      status: outcome.approved ? 'pending' : 'declined',
      merchant: message.merchant,
      holdId: outcome.approved ? message.authorizationId : null,
      walletId: card?.view.walletId ?? null,
      createdAt: toIsoTime(this.clock.nowMs()),
    };
    this.authorizations.set(view.id, { view });
    return view;
  }

  private setStatus(cardId: string, status: CardView['status']): Reply<unknown> {
    const card = this.cards.get(cardId);
    if (card === undefined) return failure('not_found', 'no such card');
    if (card.view.status === 'canceled' && status !== 'canceled') return failure('card_not_active', 'the card is canceled');
    card.view = { ...card.view, status };
    return { ok: true, value: card.view };
  }
}

/** 16 digits: the BIN, random digits, and the Luhn check digit. */
function newPan(): string {
  let body = FAKE_BIN;
  while (body.length < 15) body += String(randomInt(0, 10));
  let sum = 0;
  for (let i = 0; i < body.length; i++) {
    let digit = Number(body[body.length - 1 - i]);
    if (i % 2 === 0) digit = digit * 2 > 9 ? digit * 2 - 9 : digit * 2;
    sum += digit;
  }
  return `${body}${(10 - (sum % 10)) % 10}`;
}

function failure(code: ErrorCode, message: string): Reply<never> {
  return { ok: false, error: domainError(code, message) };
}

const FAKE = Symbol('FAKE_CARD_ISSUER');

@Controller()
class FakeCardIssuerController {
  constructor(@Inject(FAKE) private readonly fake: FakeCardIssuer) {}

  @MessagePattern<string>(CARD_TOPICS.commands)
  command(@Payload() message: CardCommandEnvelope): Promise<Reply<unknown>> {
    return this.fake.command(message);
  }

  @MessagePattern<string>(CARD_TOPICS.queries)
  query(@Payload() message: CardQueryMessage): Reply<unknown> {
    return this.fake.query(message);
  }
}

@Module({})
class FakeCardIssuerModule {
  static register(fake: FakeCardIssuer): DynamicModule {
    return { module: FakeCardIssuerModule, controllers: [FakeCardIssuerController], providers: [{ provide: FAKE, useValue: fake }] };
  }
}

export interface RunningFakeCardIssuer {
  readonly fake: FakeCardIssuer;
  close(): Promise<void>;
}

export interface FakeCardIssuerOptions {
  readonly bus: MessageBus;
  readonly clock: Clock;
  readonly ledgerShards: number;
}

/** Serves `cards.commands` and `cards.queries` on the bus as a Nest microservice, as the real service will. */
export async function startFakeCardIssuer(options: FakeCardIssuerOptions): Promise<RunningFakeCardIssuer> {
  const proxy = new BusClientProxy(options.bus, { clientId: 'fake-card-issuer' });
  await proxy.connect();
  const fake = new FakeCardIssuer(options.clock, new LedgerClient(proxy, options.ledgerShards), new IdentityClient(proxy));
  const app: INestMicroservice = await NestFactory.createMicroservice(FakeCardIssuerModule.register(fake), {
    strategy: new BusServer(options.bus, { groupId: 'card-issuer', topics: { [CARD_TOPICS.commands]: 4, [CARD_TOPICS.queries]: 4 } }),
    logger: ['error'],
  });
  await app.listen();
  return {
    fake,
    async close() {
      await app.close();
      await proxy.close();
    },
  };
}
