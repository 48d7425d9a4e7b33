// ledger.v1.Cards and ledger.v1.CardNetwork: each method is one call to CardOperations behind the
// same rules as its HTTP route (stated in its operation below).
import type { Metadata } from '@grpc/grpc-js';
import { Controller, Inject } from '@nestjs/common';
import { GrpcMethod } from '@nestjs/microservices';
import type { AuthorizationView, CardView, Currency, RevealedCard, SpendingControlsView, TransactionView } from '@ledger/contracts';
import { CardOperations, type AuthorizationPage } from '../application/card-operations';
import { AuthorizationsQuery, AuthorizeDto, CaptureDto, IssueCardDto, RefundDto, ReverseDto, RevealCardDto, SpendingControlsDto } from '../transport/cards.dto';
import { pathSegment } from '../application/idempotent-execution';
import { GrpcEdge, type GrpcCall, type GrpcOperation } from './grpc-edge';

interface CardRequest {
  readonly cardId?: string;
}
interface IssueCardRequest {
  readonly walletId?: string;
  readonly label?: string;
  readonly spendingControls?: SpendingControlsView;
}
interface RevealCardRequest extends CardRequest {
  readonly password?: string;
  readonly totp?: string;
}
interface AuthorizeRequest {
  readonly pan?: string;
  readonly expMonth?: number;
  readonly expYear?: number;
  readonly cvv?: string;
  readonly amount?: string;
  readonly currency?: string;
  readonly merchant?: { readonly name?: string; readonly mcc?: string; readonly country?: string };
}
interface HoldRequest {
  readonly authorizationId?: string;
  readonly amount?: string;
}

const READ = { rule: 'owner_or_admin', field: 'cardId', id: (request: CardRequest) => request.cardId } as const;
const cardPath = (request: CardRequest, rest = '') => `/v1/cards/${pathSegment(request.cardId)}${rest}`;
/** A change to a card by its owner or an admin (freeze, unfreeze, cancel): 200 with the card. */
const changesCard = (rest: string): GrpcOperation<CardRequest> => ({
  http: (request) => ({ method: 'POST', path: cardPath(request, rest), body: null }),
  card: READ,
  rateLimit: 'write',
  idempotency: { required: false, record: true },
  status: 200,
});
/** Every network method: the network's key and rate limit, an Idempotency-Key required. */
const NETWORK_MOVES_MONEY = { network: true, rateLimit: 'network', idempotency: { required: true, record: true } } as const;
const authorizationPath = (request: HoldRequest, rest: string) => `/v1/network/authorizations/${pathSegment(request.authorizationId)}${rest}`;

export const CARD_OPERATIONS = {
  IssueCard: {
    http: (request: IssueCardRequest) => ({
      method: 'POST',
      path: '/v1/cards',
      body: { walletId: request.walletId, label: request.label, spendingControls: request.spendingControls },
    }),
    wallet: { rule: 'owner', field: 'walletId', id: (request: IssueCardRequest) => request.walletId },
    rateLimit: 'write',
    idempotency: { required: false, record: true },
    status: 201,
    body: IssueCardDto,
  },
  ListCards: { http: () => ({ method: 'GET', path: '/v1/cards', body: null }), status: 200 },
  GetCard: { http: (request: CardRequest) => ({ method: 'GET', path: cardPath(request), body: null }), card: READ, status: 200 },
  // Not recorded for replays: the response carries the PAN and CVV, which never enter the event store.
  RevealCard: {
    http: (request: RevealCardRequest) => ({ method: 'POST', path: cardPath(request, '/reveal'), body: { password: request.password, totp: request.totp } }),
    card: { rule: 'owner', field: 'cardId', id: (request: CardRequest) => request.cardId },
    rateLimit: 'reveal',
    idempotency: { required: false, record: false },
    status: 200,
    body: RevealCardDto,
  },
  FreezeCard: changesCard('/freeze'),
  UnfreezeCard: changesCard('/unfreeze'),
  CancelCard: changesCard('/cancel'),
  SetSpendingControls: {
    http: (request: CardRequest & { spendingControls?: SpendingControlsView }) => ({
      method: 'PUT',
      path: cardPath(request, '/spending-controls'),
      body: { ...request.spendingControls },
    }),
    card: READ,
    rateLimit: 'write',
    idempotency: { required: false, record: true },
    status: 200,
    body: SpendingControlsDto,
  },
  ListAuthorizations: {
    http: (request: CardRequest & { limit?: number; cursor?: string }) => ({
      method: 'GET',
      path: cardPath(request, '/authorizations'),
      body: null,
      query: { limit: request.limit === undefined ? undefined : String(request.limit), cursor: request.cursor },
    }),
    card: READ,
    status: 200,
    query: AuthorizationsQuery,
  },
} satisfies Record<string, GrpcOperation<never>>;

export const NETWORK_OPERATIONS = {
  Authorize: {
    http: (request: AuthorizeRequest) => ({
      method: 'POST',
      path: '/v1/network/authorizations',
      body: {
        pan: request.pan,
        expMonth: request.expMonth,
        expYear: request.expYear,
        cvv: request.cvv,
        amount: request.amount,
        currency: request.currency,
        merchant: request.merchant,
      },
    }),
    ...NETWORK_MOVES_MONEY,
    status: 200,
    body: AuthorizeDto,
  },
  Capture: {
    http: (request: HoldRequest) => ({ method: 'POST', path: authorizationPath(request, '/capture'), body: { amount: request.amount } }),
    ids: (request: HoldRequest) => ({ authorizationId: request.authorizationId }),
    ...NETWORK_MOVES_MONEY,
    status: 200,
    body: CaptureDto,
  },
  Reverse: {
    http: (request: HoldRequest) => ({ method: 'POST', path: authorizationPath(request, '/reverse'), body: { amount: request.amount } }),
    ids: (request: HoldRequest) => ({ authorizationId: request.authorizationId }),
    ...NETWORK_MOVES_MONEY,
    status: 200,
    body: ReverseDto,
  },
  Refund: {
    http: (request: HoldRequest) => ({ method: 'POST', path: '/v1/network/refunds', body: { authorizationId: request.authorizationId, amount: request.amount } }),
    ...NETWORK_MOVES_MONEY,
    status: 201,
    body: RefundDto,
  },
} satisfies Record<string, GrpcOperation<never>>;

@Controller()
export class CardsGrpcController {
  constructor(
    @Inject(GrpcEdge) private readonly edge: GrpcEdge,
    @Inject(CardOperations) private readonly cards: CardOperations,
  ) {}

  @GrpcMethod('Cards', 'IssueCard')
  issueCard(request: IssueCardRequest, _metadata: Metadata, call: GrpcCall): Promise<CardView> {
    return this.edge.run(CARD_OPERATIONS.IssueCard, request, call, (c) =>
      this.cards.issueCard(c.caller(), c.wallet(), { label: request.label, spendingControls: request.spendingControls }, c.keys),
    );
  }

  @GrpcMethod('Cards', 'ListCards')
  listCards(request: object, _metadata: Metadata, call: GrpcCall): Promise<{ items: CardView[] }> {
    return this.edge.run(CARD_OPERATIONS.ListCards, request, call, (c) => this.cards.listCards(c.caller()));
  }

  @GrpcMethod('Cards', 'GetCard')
  getCard(request: CardRequest, _metadata: Metadata, call: GrpcCall): Promise<CardView> {
    // The ownership check's GetCard is the read, as over HTTP.
    return this.edge.run(CARD_OPERATIONS.GetCard, request, call, async (c) => c.card());
  }

  @GrpcMethod('Cards', 'RevealCard')
  revealCard(request: RevealCardRequest, _metadata: Metadata, call: GrpcCall): Promise<RevealedCard> {
    return this.edge.run(CARD_OPERATIONS.RevealCard, request, call, (c) =>
      this.cards.reveal(c.caller(), c.card(), { password: request.password, totp: request.totp }, c.keys),
    );
  }

  @GrpcMethod('Cards', 'FreezeCard')
  freezeCard(request: CardRequest, _metadata: Metadata, call: GrpcCall): Promise<CardView> {
    return this.edge.run(CARD_OPERATIONS.FreezeCard, request, call, (c) => this.cards.freeze(c.caller(), c.card(), c.keys));
  }

  @GrpcMethod('Cards', 'UnfreezeCard')
  unfreezeCard(request: CardRequest, _metadata: Metadata, call: GrpcCall): Promise<CardView> {
    return this.edge.run(CARD_OPERATIONS.UnfreezeCard, request, call, (c) => this.cards.unfreeze(c.caller(), c.card(), c.keys));
  }

  @GrpcMethod('Cards', 'CancelCard')
  cancelCard(request: CardRequest, _metadata: Metadata, call: GrpcCall): Promise<CardView> {
    return this.edge.run(CARD_OPERATIONS.CancelCard, request, call, (c) => this.cards.cancel(c.caller(), c.card(), c.keys));
  }

  @GrpcMethod('Cards', 'SetSpendingControls')
  setSpendingControls(request: CardRequest & { spendingControls?: SpendingControlsView }, _metadata: Metadata, call: GrpcCall): Promise<CardView> {
    return this.edge.run(CARD_OPERATIONS.SetSpendingControls, request, call, (c) =>
      this.cards.setSpendingControls(c.caller(), c.card(), { ...request.spendingControls }, c.keys),
    );
  }

  @GrpcMethod('Cards', 'ListAuthorizations')
  listAuthorizations(request: CardRequest & { limit?: number; cursor?: string }, _metadata: Metadata, call: GrpcCall): Promise<AuthorizationPage> {
    return this.edge.run(CARD_OPERATIONS.ListAuthorizations, request, call, (c) => this.cards.authorizations(c.card(), { limit: request.limit, cursor: request.cursor }));
  }
}

@Controller()
export class CardNetworkGrpcController {
  constructor(
    @Inject(GrpcEdge) private readonly edge: GrpcEdge,
    @Inject(CardOperations) private readonly cards: CardOperations,
  ) {}

  @GrpcMethod('CardNetwork', 'Authorize')
  authorize(request: AuthorizeRequest, _metadata: Metadata, call: GrpcCall): Promise<AuthorizationView> {
    return this.edge.run(NETWORK_OPERATIONS.Authorize, request, call, (c) => {
      const { pan, expMonth, expYear, cvv, amount, currency, merchant } = request as Required<AuthorizeRequest>;
      const { name, mcc, country } = merchant as Required<AuthorizeRequest['merchant'] & object>;
      return this.cards.authorize({ pan, expMonth, expYear, cvv, amount, currency: currency as Currency, merchant: { name, mcc, country } }, c.keys);
    });
  }

  @GrpcMethod('CardNetwork', 'Capture')
  capture(request: HoldRequest, _metadata: Metadata, call: GrpcCall): Promise<AuthorizationView> {
    return this.edge.run(NETWORK_OPERATIONS.Capture, request, call, (c) => this.cards.capture(String(request.authorizationId), String(request.amount), c.keys));
  }

  @GrpcMethod('CardNetwork', 'Reverse')
  reverse(request: HoldRequest, _metadata: Metadata, call: GrpcCall): Promise<AuthorizationView> {
    return this.edge.run(NETWORK_OPERATIONS.Reverse, request, call, (c) => this.cards.reverse(String(request.authorizationId), request.amount, c.keys));
  }

  @GrpcMethod('CardNetwork', 'Refund')
  refund(request: HoldRequest, _metadata: Metadata, call: GrpcCall): Promise<TransactionView> {
    return this.edge.run(NETWORK_OPERATIONS.Refund, request, call, (c) => this.cards.refund(String(request.authorizationId), String(request.amount), c.keys));
  }
}
