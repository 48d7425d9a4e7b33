// What the Cards and Card network routes do, one method each: the few rules the gateway owns
// (a step-up proof must be there, freeze/unfreeze/cancel as "make it so") and then one command or
// query to the card-issuer. Ownership (or the network key) was checked before any of this runs.
import type {
  AuthorizationView,
  CardCommandEnvelope,
  CardCommandMessage,
  CardCommandResults,
  CardView,
  RevealedCard,
  SpendingControlsView,
  TransactionView,
  WalletView,
} from '@ledger/contracts';
import type { CardClient } from '../clients/card-client';
import { GatewayError, ServiceReplyError, valueOf } from './gateway-errors';
import type { Caller, CommandKeys } from './wallet-operations';

/** Who sends the card network's requests: the acquirer behind X-Network-Key (one for now). */
export const NETWORK_ACTOR = 'network:default';

/** What the network sends to authorize: the contract's Authorize without the id the gateway mints. */
/** A page of a card's authorizations, newest first; `nextCursor` null on the last. */
export interface AuthorizationPage {
  readonly items: AuthorizationView[];
  readonly nextCursor: string | null;
}

export type AuthorizationRequest = Omit<Extract<CardCommandMessage, { type: 'Authorize' }>, 'type' | 'authorizationId'>;

export interface StepUpProof {
  readonly password?: string;
  readonly totp?: string;
}

type CommandType = keyof CardCommandResults;

export class CardOperations {
  constructor(private readonly cards: CardClient) {}

  /** The card id is minted once per Idempotency-Key generation (`keys.resourceId`), so a retry names the same card. */
  issueCard(caller: Caller, wallet: Pick<WalletView, 'id'>, card: { label?: string; spendingControls?: SpendingControlsView }, keys: CommandKeys): Promise<CardView> {
    return this.command(
      'IssueCard',
      { type: 'IssueCard', cardId: keys.resourceId, ownerId: caller.userId, walletId: wallet.id, ...defined(card) },
      actorOf(caller),
      keys,
    );
  }

  listCards(caller: Caller): Promise<{ items: CardView[] }> {
    return valueOf(this.cards.query<{ items: CardView[] }>({ type: 'ListCards', ownerId: caller.userId }));
  }

  getCard(cardId: string): Promise<CardView> {
    return valueOf(this.cards.query<CardView>({ type: 'GetCard', cardId }));
  }

  authorizations(card: CardView, page: { limit?: number; cursor?: string }): Promise<AuthorizationPage> {
    return valueOf(this.cards.query<AuthorizationPage>({ type: 'ListAuthorizations', cardId: card.id, ...defined(page) }));
  }

  /** Step-up is checked by the card-issuer (through identity); without any proof it is refused here. */
  reveal(caller: Caller, card: CardView, proof: StepUpProof, keys: CommandKeys): Promise<RevealedCard> {
    if (proof.password === undefined && proof.totp === undefined) {
      return Promise.reject(new GatewayError('step_up_required', 'revealing a card needs your password or a TOTP code', { fields: ['password', 'totp'] }));
    }
    return this.command('RevealCard', { type: 'RevealCard', cardId: card.id, userId: caller.userId, ...defined(proof) }, actorOf(caller), keys);
  }

  /** Freezing a frozen card (or unfreezing an active one, or canceling a canceled one) answers the card. */
  freeze(caller: Caller, card: CardView, keys: CommandKeys): Promise<CardView> {
    return this.makeStatus('FreezeCard', 'frozen', caller, card, keys);
  }

  unfreeze(caller: Caller, card: CardView, keys: CommandKeys): Promise<CardView> {
    return this.makeStatus('UnfreezeCard', 'active', caller, card, keys);
  }

  cancel(caller: Caller, card: CardView, keys: CommandKeys): Promise<CardView> {
    return this.makeStatus('CancelCard', 'canceled', caller, card, keys);
  }

  /**
   * "Make it so": a card in `status` already answers itself. So does one a concurrent request put there after the
   * guard read it: the card-issuer then refuses the change card_not_active, naming the status the card is in.
   */
  private async makeStatus(type: 'FreezeCard' | 'UnfreezeCard' | 'CancelCard', status: CardView['status'], caller: Caller, card: CardView, keys: CommandKeys): Promise<CardView> {
    if (card.status === status) return card;
    try {
      return await this.command(type, { type, cardId: card.id }, actorOf(caller), keys);
    } catch (error) {
      if (error instanceof ServiceReplyError && error.error.code === 'card_not_active' && error.error.details?.status === status) return this.getCard(card.id);
      throw error;
    }
  }

  setSpendingControls(caller: Caller, card: CardView, spendingControls: SpendingControlsView, keys: CommandKeys): Promise<CardView> {
    return this.command('SetSpendingControls', { type: 'SetSpendingControls', cardId: card.id, spendingControls }, actorOf(caller), keys);
  }

  /** The authorization id is minted once per Idempotency-Key generation: a retry names the same authorization and never holds twice. */
  authorize(request: AuthorizationRequest, keys: CommandKeys): Promise<AuthorizationView> {
    return this.command('Authorize', { type: 'Authorize', authorizationId: keys.resourceId, ...request }, NETWORK_ACTOR, keys);
  }

  capture(authorizationId: string, amount: string, keys: CommandKeys): Promise<AuthorizationView> {
    return this.command('CaptureAuthorization', { type: 'CaptureAuthorization', authorizationId, amount }, NETWORK_ACTOR, keys);
  }

  reverse(authorizationId: string, amount: string | undefined, keys: CommandKeys): Promise<AuthorizationView> {
    return this.command('ReverseAuthorization', { type: 'ReverseAuthorization', authorizationId, ...defined({ amount }) }, NETWORK_ACTOR, keys);
  }

  /** The refund id is minted like an authorization's, so a retried refund credits once. */
  refund(authorizationId: string, amount: string, keys: CommandKeys): Promise<TransactionView> {
    return this.command('RefundAuthorization', { type: 'RefundAuthorization', refundId: keys.resourceId, authorizationId, amount }, NETWORK_ACTOR, keys);
  }

  private command<K extends CommandType>(_type: K, message: Extract<CardCommandMessage, { type: K }>, actor: string, keys: CommandKeys): Promise<CardCommandResults[K]> {
    const envelope = { ...message, meta: { idempotencyKey: keys.idempotencyKey, actor, correlationId: keys.correlationId } } as CardCommandEnvelope;
    return valueOf(this.cards.command<CardCommandResults[K]>(envelope, keys.deadlineMs?.()));
  }
}

function actorOf(caller: Caller): string {
  return `user:${caller.userId}`;
}

/** The fields that are set: optional fields travel absent, never as undefined. */
function defined<T extends object>(values: T): Partial<T> {
  const present: Partial<T> = {};
  for (const [key, value] of Object.entries(values)) if (value !== undefined) present[key as keyof T] = value;
  return present;
}
