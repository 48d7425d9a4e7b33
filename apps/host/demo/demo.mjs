// `npm run demo`: a short walk through the API against a running host (`npm start`): two users,
// wallets, a top-up, a transfer, then balances and histories. Plain Node, no build needed.
import { randomUUID } from 'node:crypto';

const base = process.env.DEMO_URL ?? `http://127.0.0.1:${process.env.PORT ?? 3000}`;
const run = randomUUID().slice(0, 8);

async function call(method, path, { token, body, key } = {}) {
  const headers = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (token) headers.authorization = `Bearer ${token}`;
  if (key) headers['idempotency-key'] = key;
  const response = await fetch(`${base}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  const json = text ? JSON.parse(text) : null;
  if (!response.ok) throw new Error(`${method} ${path} -> ${response.status} ${text}`);
  return json;
}

const major = (amount) => `${(BigInt(amount) / 100n).toString()}.${(BigInt(amount) % 100n).toString().padStart(2, '0')}`;

async function user(name) {
  const email = `${name}.${run}@example.test`;
  const password = `correct horse battery ${run}`;
  await call('POST', '/v1/users', { body: { email, password, displayName: name } });
  const { accessToken } = await call('POST', '/v1/auth/login', { body: { email, password } });
  const wallet = await call('POST', '/v1/wallets', { token: accessToken, body: { currency: 'USD' }, key: `open-${run}-${name}` });
  console.log(`registered ${email}, opened USD wallet ${wallet.id}`);
  return { name, token: accessToken, wallet };
}

async function show(who) {
  const wallet = await call('GET', `/v1/wallets/${who.wallet.id}`, { token: who.token });
  const history = await call('GET', `/v1/wallets/${who.wallet.id}/transactions?limit=10`, { token: who.token });
  console.log(`\n${who.name}: posted ${major(wallet.balance.posted)} USD, available ${major(wallet.balance.available)} USD`);
  for (const line of history.items) {
    const sign = line.direction === 'credit' ? '+' : '-';
    console.log(`  ${line.createdAt}  ${line.kind.padEnd(10)} ${sign}${major(line.amount).padStart(8)}  balance ${major(line.balanceAfter)}`);
  }
}

try {
  console.log(`demo against ${base}`);
  const alice = await user('alice');
  const bob = await user('bob');
  await call('POST', `/v1/wallets/${alice.wallet.id}/top-ups`, { token: alice.token, body: { amount: '10000', reference: 'demo' }, key: `top-${run}` });
  console.log('alice topped up 100.00 USD');
  const transfer = { fromWalletId: alice.wallet.id, toWalletId: bob.wallet.id, amount: '2550', memo: 'lunch' };
  await call('POST', '/v1/transfers', { token: alice.token, body: transfer, key: `lunch-${run}` });
  await call('POST', '/v1/transfers', { token: alice.token, body: transfer, key: `lunch-${run}` });
  console.log('alice sent bob 25.50 USD (sent twice with the same Idempotency-Key: moved once)');
  // A transfer across ledger shards lands at the destination a moment later: poll, with a deadline.
  const deadline = Date.now() + 5_000;
  while ((await call('GET', `/v1/wallets/${bob.wallet.id}`, { token: bob.token })).balance.posted !== '2550') {
    if (Date.now() > deadline) throw new Error('the transfer did not reach bob within 5 s');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  await show(alice);
  await show(bob);
} catch (error) {
  console.error(`demo failed: ${error.message}\nIs the host running? Start it with: npm start`);
  process.exit(1);
}
