// Users, wallets and cards for the card-issuer's integration tests, made through the bus.
import { uuidv7, type AuthorizationView, type CardView, type Merchant, type RevealedCard, type UserView, type WalletView } from '@ledger/contracts';
import type { CardHarness } from './card-issuer.harness';

export const PASSWORD = 'correct horse battery staple';
export const MERCHANT: Merchant = { name: 'Corner Shop', mcc: '5411', country: 'FR' };

let counter = 0;
const next = (label: string) => `${label}-${++counter}-${uuidv7.next()}`;

export async function registerUser(h: CardHarness): Promise<string> {
  const reply = await h.identityClient.command<UserView>({
    type: 'RegisterUser',
    email: `${next('user')}@example.com`,
    password: PASSWORD,
    meta: { idempotencyKey: next('register'), actor: 'test' },
  });
  if (!reply.ok) throw new Error(`register failed: ${reply.error.code}`);
  return reply.value.id;
}

export async function openWallet(h: CardHarness, ownerId: string, currency = 'USD', topUp = '100000'): Promise<string> {
  const walletId = uuidv7.next();
  const opened = await h.ledger.send<WalletView>({ type: 'OpenWallet', walletId, ownerId, currency }, next('open'));
  if (!opened.ok) throw new Error(`open failed: ${opened.error.code}`);
  if (topUp !== '0') {
    const topped = await h.ledger.send({ type: 'TopUp', walletId, amount: topUp }, next('top-up'));
    if (!topped.ok) throw new Error(`top-up failed: ${topped.error.code}`);
  }
  return walletId;
}

export async function issueCard(h: CardHarness, ownerId: string, walletId: string, extra: { label?: string; spendingControls?: object } = {}): Promise<CardView> {
  const reply = await h.send<CardView>({ type: 'IssueCard', cardId: uuidv7.next(), ownerId, walletId, ...extra });
  if (!reply.ok) throw new Error(`issue failed: ${reply.error.code} ${reply.error.message}`);
  return reply.value;
}

export async function reveal(h: CardHarness, card: CardView): Promise<RevealedCard> {
  const reply = await h.send<RevealedCard>({ type: 'RevealCard', cardId: card.id, userId: card.ownerId, password: PASSWORD });
  if (!reply.ok) throw new Error(`reveal failed: ${reply.error.code}`);
  return reply.value;
}

/** A user with a funded wallet and a card, and the card's secrets. */
export async function cardholder(h: CardHarness, options: { currency?: string; topUp?: string; spendingControls?: object } = {}) {
  const userId = await registerUser(h);
  const walletId = await openWallet(h, userId, options.currency, options.topUp);
  const card = await issueCard(h, userId, walletId, options.spendingControls === undefined ? {} : { spendingControls: options.spendingControls });
  const secrets = await reveal(h, card);
  return { userId, walletId, card, secrets };
}

export function authorizeMessage(secrets: RevealedCard, overrides: Partial<{ amount: string; currency: string; merchant: Merchant; cvv: string; expMonth: number; expYear: number; pan: string }> = {}) {
  return {
    type: 'Authorize' as const,
    authorizationId: uuidv7.next(),
    pan: secrets.pan,
    expMonth: secrets.expMonth,
    expYear: secrets.expYear,
    cvv: secrets.cvv,
    amount: '1000',
    currency: 'USD',
    merchant: MERCHANT,
    ...overrides,
  };
}

export async function authorize(h: CardHarness, message: ReturnType<typeof authorizeMessage>, key?: string): Promise<AuthorizationView> {
  const reply = await h.send<AuthorizationView>(message, key);
  if (!reply.ok) throw new Error(`authorize failed: ${reply.error.code} ${reply.error.message}`);
  return reply.value;
}
