// Bad input, a table of it: every malformed request gets a 4xx with API.md's error envelope,
// never a 5xx, and never moves money.
import { newKey, startGatewaySystem, TEST_NETWORK_KEY, type GatewaySystem, type RequestOptions, type TestUser } from './testing/gateway.harness';
import { rawExchange } from './testing/sockets';

interface Context {
  readonly user: TestUser;
  readonly walletId: string;
  readonly otherWalletId: string;
  readonly cardId: string;
}

interface Case {
  readonly name: string;
  readonly method: string;
  readonly path: (context: Context) => string;
  readonly options: (context: Context) => RequestOptions;
  readonly status: number;
  readonly code: string;
  /** For validation_failed: the field the details must name. */
  readonly field?: string;
}

const authed = (options: Omit<RequestOptions, 'token'> = {}) => (context: Context): RequestOptions => ({ token: context.user.token, key: newKey('bad'), ...options });
const topUps = (context: Context) => `/v1/wallets/${context.walletId}/top-ups`;
const transfers = () => '/v1/transfers';
const wallets = () => '/v1/wallets';
const transactions = (query: string) => (context: Context) => `/v1/wallets/${context.walletId}/transactions${query}`;
const balance = (query: string) => (context: Context) => `/v1/wallets/${context.walletId}/balance${query}`;
const amount = (value: unknown, field = 'amount'): Omit<Case, 'name'> => ({
  method: 'POST',
  path: topUps,
  options: authed({ body: { amount: value } }),
  status: 400,
  code: 'validation_failed',
  field,
});
const transfer = (body: (context: Context) => Record<string, unknown>, field: string): Omit<Case, 'name'> => ({
  method: 'POST',
  path: transfers,
  options: (context) => ({ token: context.user.token, key: newKey('bad'), body: body(context) }),
  status: 400,
  code: 'validation_failed',
  field,
});
const query = (path: (context: Context) => string, field: string): Omit<Case, 'name'> => ({
  method: 'GET',
  path,
  options: (context) => ({ token: context.user.token }),
  status: 400,
  code: 'validation_failed',
  field,
});

const cards = () => '/v1/cards';
const card = (suffix: string) => (context: Context) => `/v1/cards/${context.cardId}${suffix}`;
const issue = (body: (context: Context) => Record<string, unknown>, field: string): Omit<Case, 'name'> => ({
  method: 'POST',
  path: cards,
  options: (context) => ({ token: context.user.token, body: body(context) }),
  status: 400,
  code: 'validation_failed',
  field,
});
const controls = (spendingControls: unknown, field: string): Omit<Case, 'name'> => ({
  method: 'PUT',
  path: card('/spending-controls'),
  options: (context) => ({ token: context.user.token, body: spendingControls }),
  status: 400,
  code: 'validation_failed',
  field,
});
const reveal = (body: unknown, field: string): Omit<Case, 'name'> => ({
  method: 'POST',
  path: card('/reveal'),
  options: (context) => ({ token: context.user.token, body }),
  status: 400,
  code: 'validation_failed',
  field,
});
const NETWORK = { 'x-network-key': TEST_NETWORK_KEY };
const network = (path: string, body: unknown, field?: string): Omit<Case, 'name'> => ({
  method: 'POST',
  path: () => path,
  options: () => ({ key: newKey('bad-network'), headers: NETWORK, body }),
  status: 400,
  code: 'validation_failed',
  field,
});
const GOOD_AUTHORIZATION = { pan: '4000001234567899', expMonth: 12, expYear: 2029, cvv: '123', amount: '100', currency: 'USD', merchant: { name: 'Shop', mcc: '5411', country: 'US' } };
const authorize = (changes: Record<string, unknown>, field: string) => network('/v1/network/authorizations', { ...GOOD_AUTHORIZATION, ...changes }, field);
const merchant = (changes: Record<string, unknown>, field: string) => authorize({ merchant: { ...GOOD_AUTHORIZATION.merchant, ...changes } }, field);

const CASES: Case[] = [
  // The body as bytes.
  { name: 'malformed JSON', method: 'POST', path: topUps, options: authed({ raw: '{"amount": "10",' }), status: 400, code: 'validation_failed', field: 'body' },
  { name: 'not JSON at all', method: 'POST', path: topUps, options: authed({ raw: 'amount=10' }), status: 400, code: 'validation_failed', field: 'body' },
  { name: 'JSON null', method: 'POST', path: topUps, options: authed({ raw: 'null' }), status: 400, code: 'validation_failed' },
  { name: 'a JSON string', method: 'POST', path: topUps, options: authed({ raw: '"1050"' }), status: 400, code: 'validation_failed' },
  { name: 'a JSON number', method: 'POST', path: topUps, options: authed({ raw: '1050' }), status: 400, code: 'validation_failed' },
  { name: 'a JSON array', method: 'POST', path: topUps, options: authed({ raw: '[{"amount":"10"}]' }), status: 400, code: 'validation_failed' },
  { name: 'Content-Type text/plain', method: 'POST', path: topUps, options: authed({ raw: '{"amount":"10"}', contentType: 'text/plain' }), status: 415, code: 'validation_failed', field: 'Content-Type' },
  { name: 'a form body', method: 'POST', path: topUps, options: authed({ raw: 'amount=10', contentType: 'application/x-www-form-urlencoded' }), status: 415, code: 'validation_failed', field: 'Content-Type' },
  { name: 'a body without Content-Type', method: 'POST', path: topUps, options: authed({ raw: '{"amount":"10"}', contentType: null }), status: 415, code: 'validation_failed', field: 'Content-Type' },
  { name: 'multipart', method: 'POST', path: topUps, options: authed({ raw: '--x\r\n\r\n--x--', contentType: 'multipart/form-data; boundary=x' }), status: 415, code: 'validation_failed' },
  { name: 'a charset other than UTF-8', method: 'POST', path: topUps, options: authed({ raw: '{"amount":"10"}', contentType: 'application/json; charset=iso-8859-1' }), status: 415, code: 'validation_failed', field: 'body' },
  { name: 'a UTF-16 body (charset=utf-16le)', method: 'POST', path: topUps, options: authed({ raw: Buffer.from('{"amount":"10"}', 'utf16le'), contentType: 'application/json; charset=utf-16le' }), status: 415, code: 'validation_failed', field: 'body' },
  { name: 'a UTF-7 body', method: 'POST', path: topUps, options: authed({ raw: '{"amount":"10"}', contentType: 'application/json; charset=utf-7' }), status: 415, code: 'validation_failed', field: 'body' },
  { name: 'an unknown Content-Encoding', method: 'POST', path: topUps, options: authed({ raw: '{"amount":"10"}', headers: { 'content-encoding': 'compress' } }), status: 415, code: 'validation_failed', field: 'body' },
  { name: 'a gzip body that does not inflate', method: 'POST', path: topUps, options: authed({ raw: '{"amount":"10"}', headers: { 'content-encoding': 'gzip' } }), status: 400, code: 'validation_failed', field: 'body' },
  { name: 'a body over BODY_LIMIT_BYTES', method: 'POST', path: topUps, options: authed({ body: { amount: '10', reference: 'x'.repeat(70_000) } }), status: 413, code: 'validation_failed', field: 'body' },
  { name: 'a body nested 100 deep', method: 'POST', path: topUps, options: authed({ raw: `{"amount":"10","reference":${'['.repeat(100)}${']'.repeat(100)}}` }), status: 400, code: 'validation_failed', field: 'body' },
  { name: 'a body of 20,000 list items', method: 'POST', path: topUps, options: authed({ body: { amount: '10', reference: new Array(20_000).fill(0) } }), status: 400, code: 'validation_failed', field: 'body' },
  { name: 'logout with 5,000 unknown keys (no token, no rate limit)', method: 'POST', path: () => '/v1/auth/logout', options: () => ({ body: { refreshToken: 'r', ...Object.fromEntries(Array.from({ length: 5_000 }, (_, i) => [`k${i}`, 0])) } }), status: 400, code: 'validation_failed', field: 'body' },
  { name: 'a field named twice', method: 'POST', path: topUps, options: authed({ raw: '{"amount":"1","amount":"100000"}' }), status: 400, code: 'validation_failed', field: 'body' },
  { name: 'a nested field named twice, once escaped', method: 'POST', path: transfers, options: (c) => ({ token: c.user.token, key: newKey('bad'), raw: `{"fromWalletId":"${c.walletId}","toWalletId":"${c.otherWalletId}","amount":"1","\\u0061mount":"900"}` }), status: 400, code: 'validation_failed', field: 'body' },
  // Fields.
  { name: 'an unknown field', method: 'POST', path: topUps, options: authed({ body: { amount: '10', sneaky: true } }), status: 400, code: 'validation_failed', field: 'sneaky' },
  { name: 'a field named constructor', method: 'POST', path: topUps, options: authed({ raw: '{"amount":"10","constructor":{}}' }), status: 400, code: 'validation_failed', field: 'constructor' },
  { name: 'a nested __proto__', method: 'POST', path: topUps, options: authed({ raw: '{"amount":"10","reference":{"__proto__":{"admin":true}}}' }), status: 400, code: 'validation_failed', field: '__proto__' },
  { name: 'amount "0"', ...amount('0') },
  { name: 'amount "-1"', ...amount('-1') },
  { name: 'amount "1.5"', ...amount('1.5') },
  { name: 'amount 1050 as a number', ...amount(1050) },
  { name: 'amount of 31 digits', ...amount('1'.repeat(31)) },
  { name: 'amount "1e3"', ...amount('1e3') },
  { name: 'amount ""', ...amount('') },
  { name: 'amount " 10"', ...amount(' 10') },
  { name: 'amount "0x10"', ...amount('0x10') },
  { name: 'amount null', ...amount(null) },
  { name: 'amount true', ...amount(true) },
  { name: 'amount ["10"]', ...amount(['10']) },
  { name: 'amount {"$gt": 0}', ...amount({ $gt: 0 }) },
  { name: 'amount missing', method: 'POST', path: topUps, options: authed({ body: {} }), status: 400, code: 'validation_failed', field: 'amount' },
  { name: 'reference of 257 characters', method: 'POST', path: topUps, options: authed({ body: { amount: '10', reference: 'r'.repeat(257) } }), status: 400, code: 'validation_failed', field: 'reference' },
  { name: 'reference as a number', method: 'POST', path: topUps, options: authed({ body: { amount: '10', reference: 42 } }), status: 400, code: 'validation_failed', field: 'reference' },
  { name: 'currency in lower case', method: 'POST', path: wallets, options: authed({ body: { currency: 'usd' } }), status: 400, code: 'validation_failed', field: 'currency' },
  { name: 'an unsupported currency', method: 'POST', path: wallets, options: authed({ body: { currency: 'XYZ' } }), status: 400, code: 'validation_failed', field: 'currency' },
  { name: 'currency as an ISO number', method: 'POST', path: wallets, options: authed({ body: { currency: 840 } }), status: 400, code: 'validation_failed', field: 'currency' },
  { name: 'currency missing', method: 'POST', path: wallets, options: authed({ body: {} }), status: 400, code: 'validation_failed', field: 'currency' },
  { name: 'transfer: toWalletId a number', ...transfer((c) => ({ fromWalletId: c.walletId, toWalletId: 42, amount: '1' }), 'toWalletId') },
  { name: 'transfer: toWalletId of 200 characters', ...transfer((c) => ({ fromWalletId: c.walletId, toWalletId: 'w'.repeat(200), amount: '1' }), 'toWalletId') },
  { name: 'transfer: fromWalletId missing', ...transfer((c) => ({ toWalletId: c.otherWalletId, amount: '1' }), 'fromWalletId') },
  { name: 'transfer: fromWalletId with a space', ...transfer((c) => ({ fromWalletId: `${c.walletId} x`, toWalletId: c.otherWalletId, amount: '1' }), 'fromWalletId') },
  { name: 'transfer: memo of 300 characters', ...transfer((c) => ({ fromWalletId: c.walletId, toWalletId: c.otherWalletId, amount: '1', memo: 'm'.repeat(300) }), 'memo') },
  { name: 'transfer: amount "1.00"', ...transfer((c) => ({ fromWalletId: c.walletId, toWalletId: c.otherWalletId, amount: '1.00' }), 'amount') },
  { name: 'transfer: an extra field', ...transfer((c) => ({ fromWalletId: c.walletId, toWalletId: c.otherWalletId, amount: '1', currency: 'USD' }), 'currency') },
  // Ids in the path.
  { name: 'a wallet id of 129 characters', ...query(() => `/v1/wallets/${'w'.repeat(129)}`, 'id') },
  { name: 'a wallet id with a space', ...query(() => '/v1/wallets/a%20b', 'id') },
  { name: 'a badly %-encoded id', method: 'GET', path: () => '/v1/wallets/%E0%A4%A', options: (c) => ({ token: c.user.token }), status: 400, code: 'validation_failed', field: 'url' },
  { name: 'a garbage wallet id', method: 'GET', path: () => '/v1/wallets/not-a-wallet', options: (c) => ({ token: c.user.token }), status: 404, code: 'not_found' },
  // Query strings.
  { name: 'limit=0', ...query(transactions('?limit=0'), 'limit') },
  { name: 'limit=201', ...query(transactions('?limit=201'), 'limit') },
  { name: 'limit=abc', ...query(transactions('?limit=abc'), 'limit') },
  { name: 'limit=-1', ...query(transactions('?limit=-1'), 'limit') },
  { name: 'limit=1.5', ...query(transactions('?limit=1.5'), 'limit') },
  { name: 'limit given twice', ...query(transactions('?limit=1&limit=2'), 'limit') },
  { name: 'a cursor with bad characters', ...query(transactions('?cursor=!!!'), 'cursor') },
  { name: 'a cursor of 65 characters', ...query(transactions(`?cursor=${'a'.repeat(65)}`), 'cursor') },
  { name: 'a cursor this API never gave out', ...query(transactions('?cursor=bm9wZQ'), 'cursor') },
  { name: 'an unknown query parameter', ...query(transactions('?sort=asc'), 'sort') },
  { name: 'at=yesterday', ...query(balance('?at=yesterday'), 'at') },
  { name: 'at without a time', ...query(balance('?at=2026-01-01'), 'at') },
  { name: 'at on day 30 of February', method: 'GET', path: balance('?at=2026-02-30T00:00:00Z'), options: (c) => ({ token: c.user.token }), status: 400, code: 'validation_failed' },
  { name: 'at in month 13', method: 'GET', path: balance('?at=2026-13-01T00:00:00Z'), options: (c) => ({ token: c.user.token }), status: 400, code: 'validation_failed' },
  { name: 'at of 41 characters', ...query(balance(`?at=2026-01-01T00:00:00.${'0'.repeat(20)}Z`), 'at') },
  // Headers.
  { name: 'an Idempotency-Key of 256 characters', method: 'POST', path: topUps, options: (c) => ({ token: c.user.token, key: 'k'.repeat(256), body: { amount: '10' } }), status: 400, code: 'validation_failed', field: 'Idempotency-Key' },
  { name: 'an Idempotency-Key with a space', method: 'POST', path: topUps, options: (c) => ({ token: c.user.token, key: 'a key', body: { amount: '10' } }), status: 400, code: 'validation_failed', field: 'Idempotency-Key' },
  { name: 'no Idempotency-Key on a top-up', method: 'POST', path: topUps, options: (c) => ({ token: c.user.token, body: { amount: '10' } }), status: 400, code: 'idempotency_key_required' },
  { name: 'Authorization: Bearer without a token', method: 'GET', path: wallets, options: () => ({ headers: { authorization: 'Bearer' } }), status: 401, code: 'unauthenticated' },
  { name: 'Authorization: a random string', method: 'GET', path: wallets, options: () => ({ headers: { authorization: 'let me in' } }), status: 401, code: 'unauthenticated' },
  { name: 'a bearer token that is not a JWT', method: 'GET', path: wallets, options: () => ({ token: 'abc' }), status: 401, code: 'unauthenticated' },
  // Identity bodies.
  { name: 'register: not an email', method: 'POST', path: () => '/v1/users', options: () => ({ body: { email: 'not-an-email', password: 'a-long-password' } }), status: 400, code: 'validation_failed', field: 'email' },
  { name: 'register: an email of 300 characters', method: 'POST', path: () => '/v1/users', options: () => ({ body: { email: `${'e'.repeat(290)}@example.com`, password: 'a-long-password' } }), status: 400, code: 'validation_failed', field: 'email' },
  { name: 'register: displayName null', method: 'POST', path: () => '/v1/users', options: () => ({ body: { email: 'n@example.com', password: 'a-long-password', displayName: null } }), status: 400, code: 'validation_failed', field: 'displayName' },
  { name: 'login: password missing', method: 'POST', path: () => '/v1/auth/login', options: () => ({ body: { email: 'a@example.com' } }), status: 400, code: 'validation_failed', field: 'password' },
  { name: 'login: totp not digits', method: 'POST', path: () => '/v1/auth/login', options: () => ({ body: { email: 'a@example.com', password: 'pw', totp: 'abcdef' } }), status: 400, code: 'validation_failed', field: 'totp' },
  { name: 'refresh: a token of 2000 characters', method: 'POST', path: () => '/v1/auth/refresh', options: () => ({ body: { refreshToken: 't'.repeat(2000) } }), status: 400, code: 'validation_failed', field: 'refreshToken' },
  { name: 'totp confirm: code missing', method: 'POST', path: () => '/v1/me/mfa/totp/confirm', options: authed({ body: {} }), status: 400, code: 'validation_failed', field: 'code' },
  // Cards.
  { name: 'card: walletId missing', ...issue(() => ({ label: 'x' }), 'walletId') },
  { name: 'card: walletId a number', ...issue(() => ({ walletId: 7 }), 'walletId') },
  { name: 'card: label of 65 characters', ...issue((c) => ({ walletId: c.walletId, label: 'l'.repeat(65) }), 'label') },
  // A lone UTF-16 surrogate is no character: SQLite keeps it as bytes that are not UTF-8 and gives back U+FFFD (a card's label read back otherwise).
  { name: 'top-up: a reference with a lone surrogate', ...amount('10', 'reference'), options: authed({ body: { amount: '10', reference: 'ref\ud800' } }) },
  { name: 'transfer: a memo with a lone surrogate', ...transfer((c) => ({ fromWalletId: c.walletId, toWalletId: c.otherWalletId, amount: '1', memo: '\udc00memo' }), 'memo') },
  { name: 'card: a label with a lone surrogate', ...issue((c) => ({ walletId: c.walletId, label: 'label\ud800' }), 'label') },
  { name: 'network: a merchant name with a lone surrogate', ...merchant({ name: 'Shop\udfff' }, 'merchant.name') },
  { name: 'card: label null', ...issue((c) => ({ walletId: c.walletId, label: null }), 'label') },
  { name: 'card: spendingControls a string', ...issue((c) => ({ walletId: c.walletId, spendingControls: 'none' }), 'spendingControls') },
  { name: 'card: a daily limit of "1.5"', ...issue((c) => ({ walletId: c.walletId, spendingControls: { daily: '1.5' } }), 'spendingControls.daily') },
  { name: 'card: an unknown control', ...issue((c) => ({ walletId: c.walletId, spendingControls: { weekly: '10' } }), 'spendingControls.weekly') },
  { name: 'card: an unknown field', ...issue((c) => ({ walletId: c.walletId, pan: '4000001234567899' }), 'pan') },
  { name: 'controls: an MCC of 3 digits', ...controls({ blockedMccs: ['581'] }, 'blockedMccs') },
  { name: 'controls: an MCC as a number', ...controls({ blockedMccs: [5814] }, 'blockedMccs') },
  { name: 'controls: 501 blocked MCCs', ...controls({ blockedMccs: Array.from({ length: 501 }, (_, i) => String(i).padStart(4, '0')) }, 'blockedMccs') },
  { name: 'controls: the same MCC twice', ...controls({ blockedMccs: ['5814', '5814'] }, 'blockedMccs') },
  { name: 'controls: a country in lower case', ...controls({ allowedCountries: ['us'] }, 'allowedCountries') },
  { name: 'controls: allowedCountries a string', ...controls({ allowedCountries: 'US' }, 'allowedCountries') },
  { name: 'controls: perAuthorization "0"', ...controls({ perAuthorization: '0' }, 'perAuthorization') },
  { name: 'controls: monthly as a number', ...controls({ monthly: 100 }, 'monthly') },
  { name: 'reveal: password as a number', ...reveal({ password: 12345678901 }, 'password') },
  { name: 'reveal: totp not digits', ...reveal({ totp: 'abcdef' }, 'totp') },
  { name: 'reveal: an unknown field', ...reveal({ password: 'a-long-password', pin: '1234' }, 'pin') },
  { name: 'a card id with a space', ...query(() => '/v1/cards/a%20b', 'id') },
  { name: 'a card id of 129 characters', ...query(() => `/v1/cards/${'c'.repeat(129)}/authorizations`, 'id') },
  { name: 'authorizations limit=201', ...query(card('/authorizations?limit=201'), 'limit') },
  { name: 'a garbage card id', method: 'GET', path: () => '/v1/cards/not-a-card', options: (c) => ({ token: c.user.token }), status: 404, code: 'not_found' },
  // The card network.
  { name: 'network: PAN of 11 digits', ...authorize({ pan: '40000012345' }, 'pan') },
  { name: 'network: PAN of 20 digits', ...authorize({ pan: '40000012345678901234' }, 'pan') },
  { name: 'network: PAN with spaces', ...authorize({ pan: '4000 0012 3456 7899' }, 'pan') },
  { name: 'network: PAN as a number', ...authorize({ pan: 4000001234567899 }, 'pan') },
  { name: 'network: CVV of 2 digits', ...authorize({ cvv: '12' }, 'cvv') },
  { name: 'network: CVV of 5 digits', ...authorize({ cvv: '12345' }, 'cvv') },
  { name: 'network: expMonth 13', ...authorize({ expMonth: 13 }, 'expMonth') },
  { name: 'network: expMonth 0', ...authorize({ expMonth: 0 }, 'expMonth') },
  { name: 'network: expMonth "12"', ...authorize({ expMonth: '12' }, 'expMonth') },
  { name: 'network: expYear of 2 digits', ...authorize({ expYear: 29 }, 'expYear') },
  { name: 'network: expYear 2029.5', ...authorize({ expYear: 2029.5 }, 'expYear') },
  { name: 'network: amount "0"', ...authorize({ amount: '0' }, 'amount') },
  { name: 'network: currency XYZ', ...authorize({ currency: 'XYZ' }, 'currency') },
  { name: 'network: merchant missing', ...authorize({ merchant: undefined }, 'merchant') },
  { name: 'network: merchant a string', ...authorize({ merchant: 'Shop' }, 'merchant') },
  { name: 'network: an MCC of letters', ...merchant({ mcc: 'shop' }, 'merchant.mcc') },
  { name: 'network: country USA', ...merchant({ country: 'USA' }, 'merchant.country') },
  { name: 'network: merchant name of 101 characters', ...merchant({ name: 'm'.repeat(101) }, 'merchant.name') },
  { name: 'network: an unknown merchant field', ...merchant({ city: 'Springfield' }, 'merchant.city') },
  { name: 'network: capture without an amount', ...network('/v1/network/authorizations/some-authorization/capture', {}, 'amount') },
  { name: 'network: reverse of "-1"', ...network('/v1/network/authorizations/some-authorization/reverse', { amount: '-1' }, 'amount') },
  { name: 'network: refund without authorizationId', ...network('/v1/network/refunds', { amount: '1' }, 'authorizationId') },
  { name: 'network: an authorization id of 129 characters', ...network(`/v1/network/authorizations/${'a'.repeat(129)}/capture`, { amount: '1' }, 'id') },
  { name: 'network: no X-Network-Key', method: 'POST', path: () => '/v1/network/refunds', options: () => ({ key: newKey('bad'), body: { authorizationId: 'a', amount: '1' } }), status: 401, code: 'unauthenticated' },
  { name: 'network: no Idempotency-Key', method: 'POST', path: () => '/v1/network/refunds', options: () => ({ headers: NETWORK, body: { authorizationId: 'a', amount: '1' } }), status: 400, code: 'idempotency_key_required' },
  { name: 'network: GET on a POST route', method: 'GET', path: () => '/v1/network/authorizations', options: () => ({ headers: NETWORK }), status: 404, code: 'not_found' },
  // Routes.
  { name: 'an unknown route', method: 'GET', path: () => '/v2/wallets', options: () => ({}), status: 404, code: 'not_found' },
  { name: 'an unknown method on a known path', method: 'DELETE', path: (c) => `/v1/wallets/${c.walletId}`, options: authed(), status: 404, code: 'not_found' },
  { name: 'PUT /v1/transfers', method: 'PUT', path: transfers, options: authed({ body: {} }), status: 404, code: 'not_found' },
];

describe('malformed requests (e2e)', () => {
  let s: GatewaySystem;
  let context: Context;

  beforeAll(async () => {
    s = await startGatewaySystem();
    const user = await s.register('mallory');
    const other = await s.register('victor');
    const walletId = await s.openWallet(user, 'USD', '1000');
    context = { user, walletId, otherWalletId: await s.openWallet(other, 'USD'), cardId: (await s.issueCard(user, walletId)).id };
  });

  afterAll(async () => {
    await s?.close();
  });

  it('has at least 40 cases', () => {
    expect(CASES.length).toBeGreaterThanOrEqual(40);
  });

  it.each(CASES.map((c) => [c.name, c] as const))('%s: 4xx with the error envelope', async (_name, c) => {
    const answer = await s.request(c.method, c.path(context), c.options(context));
    expect(answer.headers.get('content-type')).toMatch(/^application\/json/);
    expect({ status: answer.status, body: answer.body }).toEqual({
      status: c.status,
      body: { error: { code: c.code, message: expect.any(String), details: expect.any(Object) } },
    });
    if (c.field !== undefined) {
      expect(answer.body.error.details.fields).toEqual(expect.arrayContaining([expect.objectContaining({ field: c.field })]));
    }
  });

  // Refused by Node's HTTP parser, before Express: Node answered these itself, with no body at all.
  it.each([
    ['an unknown method', 'FOO /v1/wallets HTTP/1.1\r\nHost: x\r\n\r\n', 400],
    ['a space in the path', 'GET /v1/wal lets HTTP/1.1\r\nHost: x\r\n\r\n', 400],
    ['a header name with a space', 'GET /v1/wallets HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n', 400],
    ['both Content-Length and chunked', 'POST /v1/wallets HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n', 400],
    ['headers over 16 KiB', `GET /v1/wallets HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`, 431],
    ['HTTP/1.1 without Host', 'GET /v1/wallets HTTP/1.1\r\n\r\n', 400],
    ['an Expect other than 100-continue', 'POST /v1/auth/logout HTTP/1.1\r\nHost: x\r\nExpect: teapot\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}', 417],
    ['CONNECT', 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n', 404],
  ])('%s: the error envelope, and the connection closed', async (_name, request, status) => {
    const answer = await rawExchange(Number(new URL(s.url()).port), request);
    const [head, body] = answer.split('\r\n\r\n');
    expect(head).toMatch(new RegExp(`^HTTP/1\\.1 ${status} `));
    expect(head).toMatch(/\r\nContent-Type: application\/json/i);
    expect(head).toMatch(/\r\nConnection: close/i);
    const details = status === 404 ? {} : { fields: [expect.objectContaining({ reason: expect.any(String) })] };
    expect(JSON.parse(body)).toEqual({ error: { code: status === 404 ? 'not_found' : 'validation_failed', message: expect.any(String), details } });
  });

  it('moved no money', async () => {
    const read = await s.request('GET', `/v1/wallets/${context.walletId}`, { token: context.user.token });
    expect(read.body.balance).toEqual({ posted: '1000', pending: '0', available: '1000' });
  });

  it('sent the card-issuer nothing but the card the set-up issued', () => {
    expect(s.fakeCards!.received.map((message) => message.type)).toEqual(['IssueCard']);
  });

  it("never echoes a malformed body (Node 20's JSON.parse error quotes it) in the reply or a log line: it may hold a card number", async () => {
    for (const raw of ['{"pan":x4111111111111111}', '{"password":x"hunter2-secret"}']) {
      const answer = await s.request('POST', '/v1/cards', { token: context.user.token, raw });
      expect(answer.status).toBe(400);
      expect(answer.body).toEqual({ error: { code: 'validation_failed', message: 'the body is not valid JSON', details: { fields: [{ field: 'body', reason: 'malformed_json' }] } } });
    }
    expect(s.logLines.join('\n')).not.toMatch(/411111|hunter2/);
  });

  it('logged nothing as unexpected', () => {
    expect(s.logLines.filter((line) => line.includes('"level":50'))).toEqual([]);
  });

  // Last: the fake card-issuer's messages are checked above.
  it('takes the largest body a route needs: a card with 100 blocked MCCs and 250 allowed countries', async () => {
    const letters = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
    const spendingControls = {
      perAuthorization: '100',
      daily: '1000',
      monthly: '10000',
      blockedMccs: Array.from({ length: 100 }, (_, i) => String(1000 + i)),
      allowedCountries: Array.from({ length: 250 }, (_, i) => `${letters[Math.floor(i / 26)]}${letters[i % 26]}`),
    };
    const answer = await s.request('PUT', `/v1/cards/${context.cardId}/spending-controls`, { token: context.user.token, body: spendingControls });
    expect(answer.status).toBe(200);
  });
});
