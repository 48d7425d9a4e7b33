// API.md's Cards routes. The guard has loaded and checked the card (or, to issue one, the wallet)
// a route names; each handler is one call to the application service.
import { applyDecorators, Body, Controller, Get, HttpCode, Inject, Param, Post, Put, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiCreatedResponse, ApiHeader, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import type { CardView, RevealedCard } from '@ledger/contracts';
import { CardOperations, type AuthorizationPage } from '../application/card-operations';
import type { Caller, CommandKeys, WalletFacts } from '../application/wallet-operations';
import {
  AuthorizationListResponse,
  AuthorizationsQuery,
  CardListResponse,
  CardParams,
  CardResponse,
  IssueCardDto,
  RevealCardDto,
  RevealedCardResponse,
  SpendingControlsDto,
} from './cards.dto';
import { AccessedCard, AccessedWallet, CommandKeysOf, CurrentCaller } from './request-context';
import { ApiErrors, CardAccess, IDEMPOTENCY_KEY_DOC, Idempotent, RateLimited, ROUTE_ERRORS, WalletAccess } from './route-policy';

const READ = { name: 'id', allow: 'owner_or_admin' } as const;

/** A change to a card by its owner or an admin (freeze, unfreeze, cancel, controls): 200 with the card. */
function ChangesCard(): MethodDecorator {
  return applyDecorators(
    CardAccess(READ),
    RateLimited('write'),
    Idempotent(),
    HttpCode(200),
    ApiHeader(IDEMPOTENCY_KEY_DOC.optional),
    ApiOkResponse({ type: CardResponse }),
    ApiErrors(...ROUTE_ERRORS.user, ...ROUTE_ERRORS.resource, ...ROUTE_ERRORS.writes, 'card_not_active'),
  );
}

@ApiTags('cards')
@ApiBearerAuth()
@Controller('v1/cards')
export class CardsController {
  constructor(@Inject(CardOperations) private readonly cards: CardOperations) {}

  @Post()
  @WalletAccess({ from: 'body', name: 'walletId', allow: 'owner' })
  @RateLimited('write')
  @Idempotent()
  @HttpCode(201)
  @ApiHeader(IDEMPOTENCY_KEY_DOC.optional)
  @ApiCreatedResponse({ type: CardResponse })
  @ApiErrors(...ROUTE_ERRORS.user, ...ROUTE_ERRORS.resource, ...ROUTE_ERRORS.writes, 'wallet_not_active', 'limit_exceeded')
  issue(@CurrentCaller() caller: Caller, @AccessedWallet() wallet: WalletFacts, @Body() body: IssueCardDto, @CommandKeysOf() keys: CommandKeys): Promise<CardView> {
    return this.cards.issueCard(caller, wallet, { label: body.label, spendingControls: body.spendingControls }, keys);
  }

  @Get()
  @ApiOkResponse({ type: CardListResponse })
  @ApiErrors(...ROUTE_ERRORS.user)
  list(@CurrentCaller() caller: Caller): Promise<{ items: CardView[] }> {
    return this.cards.listCards(caller);
  }

  @Get(':id')
  @CardAccess(READ)
  @ApiOkResponse({ type: CardResponse })
  @ApiErrors(...ROUTE_ERRORS.user, ...ROUTE_ERRORS.resource)
  get(@Param() _params: CardParams, @AccessedCard() card: CardView): CardView {
    // The guard's GetCard is the read: the card-issuer answers from the card's own stream.
    return card;
  }

  /** Not recorded for replays: the response carries the PAN and CVV, which never enter the event store. */
  @Post(':id/reveal')
  @CardAccess({ name: 'id', allow: 'owner' })
  @RateLimited('reveal')
  @Idempotent({ record: false })
  @HttpCode(200)
  @ApiHeader(IDEMPOTENCY_KEY_DOC.optional)
  @ApiOkResponse({ type: RevealedCardResponse })
  @ApiErrors(...ROUTE_ERRORS.user, ...ROUTE_ERRORS.resource, 'step_up_required', 'card_not_active', 'rate_limited')
  reveal(
    @Param() _params: CardParams,
    @CurrentCaller() caller: Caller,
    @AccessedCard() card: CardView,
    @Body() body: RevealCardDto,
    @CommandKeysOf() keys: CommandKeys,
  ): Promise<RevealedCard> {
    return this.cards.reveal(caller, card, { password: body.password, totp: body.totp }, keys);
  }

  @Post(':id/freeze')
  @ChangesCard()
  freeze(@Param() _params: CardParams, @CurrentCaller() caller: Caller, @AccessedCard() card: CardView, @CommandKeysOf() keys: CommandKeys): Promise<CardView> {
    return this.cards.freeze(caller, card, keys);
  }

  @Post(':id/unfreeze')
  @ChangesCard()
  unfreeze(@Param() _params: CardParams, @CurrentCaller() caller: Caller, @AccessedCard() card: CardView, @CommandKeysOf() keys: CommandKeys): Promise<CardView> {
    return this.cards.unfreeze(caller, card, keys);
  }

  @Post(':id/cancel')
  @ChangesCard()
  cancel(@Param() _params: CardParams, @CurrentCaller() caller: Caller, @AccessedCard() card: CardView, @CommandKeysOf() keys: CommandKeys): Promise<CardView> {
    return this.cards.cancel(caller, card, keys);
  }

  @Put(':id/spending-controls')
  @ChangesCard()
  setSpendingControls(
    @Param() _params: CardParams,
    @CurrentCaller() caller: Caller,
    @AccessedCard() card: CardView,
    @Body() body: SpendingControlsDto,
    @CommandKeysOf() keys: CommandKeys,
  ): Promise<CardView> {
    return this.cards.setSpendingControls(caller, card, { ...body }, keys);
  }

  @Get(':id/authorizations')
  @CardAccess(READ)
  @ApiOkResponse({ type: AuthorizationListResponse })
  @ApiErrors(...ROUTE_ERRORS.user, ...ROUTE_ERRORS.resource)
  authorizations(@Param() _params: CardParams, @AccessedCard() card: CardView, @Query() query: AuthorizationsQuery): Promise<AuthorizationPage> {
    return this.cards.authorizations(card, { limit: query.limit === undefined ? undefined : Number(query.limit), cursor: query.cursor });
  }
}
