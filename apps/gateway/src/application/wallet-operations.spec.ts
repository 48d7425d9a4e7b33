import { of } from 'rxjs';
import type { LedgerQueryMessage, Reply, WalletView } from '@ledger/contracts';
import { BUS_HEADERS, LedgerClient, type KeyedPayload, type RequestSender } from '@ledger/messaging';
import { BUS_CALLS_PER_REQUEST_MAX } from '../gateway.config';
import { WalletOperations } from './wallet-operations';

/** A ledger that answers GetWallet from `wallets` and counts the queries. */
function fakeLedger(wallets: Map<string, WalletView>) {
  const asked: LedgerQueryMessage[] = [];
  const ledger = {
    async query(message: LedgerQueryMessage): Promise<Reply<unknown>> {
      asked.push(message);
      const wallet = 'walletId' in message ? wallets.get(message.walletId) : undefined;
      return wallet ? { ok: true, value: wallet } : { ok: false, error: { code: 'not_found', message: 'no such wallet' } };
    },
  } as unknown as LedgerClient;
  return { ledger, asked };
}

const wallet = (id: string, status: WalletView['status'] = 'active'): WalletView => ({
  id,
  ownerId: 'user-1',
  currency: 'USD',
  status,
  balance: { posted: '0', pending: '0', available: '0' },
  createdAt: '2026-01-01T00:00:00.000Z',
} as unknown as WalletView);

describe('WalletOperations', () => {
  it('asks for a wallet\'s owner and currency once, and keeps nothing that can change', async () => {
    const wallets = new Map([['w1', wallet('w1')]]);
    const { ledger, asked } = fakeLedger(wallets);
    const operations = new WalletOperations(ledger, 1_000n);
    await expect(operations.walletFacts('w1')).resolves.toEqual({ id: 'w1', ownerId: 'user-1', currency: 'USD' });
    await expect(operations.walletFacts('w1')).resolves.toEqual({ id: 'w1', ownerId: 'user-1', currency: 'USD' });
    expect(asked).toEqual([{ type: 'GetWallet', walletId: 'w1', consistency: 'eventual' }]);
  });

  it('asks again for a wallet it did not find (it may be opened later)', async () => {
    const wallets = new Map<string, WalletView>();
    const { ledger, asked } = fakeLedger(wallets);
    const operations = new WalletOperations(ledger, 1_000n);
    await expect(operations.walletFacts('w2')).rejects.toMatchObject({ error: { code: 'not_found' } });
    wallets.set('w2', wallet('w2'));
    await expect(operations.walletFacts('w2')).resolves.toMatchObject({ id: 'w2' });
    expect(asked).toHaveLength(2);
  });

  it('checks the destination of a transfer as it is now: a wallet closed since is refused', async () => {
    const wallets = new Map([['from', wallet('from')], ['to', wallet('to')]]);
    const { ledger } = fakeLedger(wallets);
    const operations = new WalletOperations(ledger, 1_000n);
    await operations.walletFacts('to');
    wallets.set('to', wallet('to', 'closed'));
    const from = await operations.walletFacts('from');
    const caller = { userId: 'user-1', roles: ['user'], sessionId: 's' };
    const keys = { idempotencyKey: 'k', resourceId: 'r', correlationId: 'c' };
    await expect(operations.transfer(caller, from, { toWalletId: 'to', amount: '1' }, keys)).rejects.toMatchObject({ code: 'wallet_not_active' });
  });

  it.each([
    ['freeze', 'frozen', 'wallet_not_active'],
    ['unfreeze', 'active', 'account_not_frozen'],
  ] as const)('answers a %s that lost the race to a concurrent one with the wallet the other made so, and any other refusal as it is', async (operation, status, refusal) => {
    const wallets = new Map([['w1', wallet('w1', status === 'frozen' ? 'active' : 'frozen')]]);
    const { ledger } = fakeLedger(wallets);
    // The concurrent request's command lands first: the ledger refuses this one, and the wallet is now as asked.
    let landed: WalletView['status'] = status;
    Object.assign(ledger, {
      async command() {
        wallets.set('w1', wallet('w1', landed));
        return { ok: false, error: { code: refusal, message: 'refused' } };
      },
    });
    const operations = new WalletOperations(ledger, 1_000n);
    const caller = { userId: 'user-1', roles: ['user'], sessionId: 's' };
    const keys = { idempotencyKey: 'k', resourceId: 'r', correlationId: 'c' };
    await expect(operations[operation](caller, { id: 'w1', ownerId: 'user-1', currency: 'USD' }, keys)).resolves.toMatchObject({ id: 'w1', status });
    // Closed meanwhile: the refusal stands.
    wallets.set('w1', wallet('w1', status === 'frozen' ? 'active' : 'frozen'));
    landed = 'closed';
    await expect(operations[operation](caller, { id: 'w1', ownerId: 'user-1', currency: 'USD' }, keys)).rejects.toMatchObject({ error: { code: refusal } });
  });

  it.each([
    ['freeze', 'frozen', 'active', 'wallet_not_active'],
    ['freeze', 'frozen', 'frozen', 'wallet_not_active'],
    ['unfreeze', 'active', 'frozen', 'account_not_frozen'],
    ['unfreeze', 'active', 'active', 'account_not_frozen'],
  ] as const)('makes a %s (to %s, from %s) in at most BUS_CALLS_PER_REQUEST_MAX bus calls, what the Idempotency-Key lease outlasts, whether it is refused or not', async (operation, status, from, refusal) => {
    for (const refused of [false, true]) {
      const wallets = new Map([['w1', wallet('w1', from)]]);
      const { ledger, asked } = fakeLedger(wallets);
      let commands = 0;
      Object.assign(ledger, {
        async command() {
          commands++;
          // Refused: a concurrent request got there first (or it was there already, which the ledger refuses too).
          if (refused || wallets.get('w1')!.status === status) {
            wallets.set('w1', wallet('w1', status));
            return { ok: false, error: { code: refusal, message: 'refused' } };
          }
          wallets.set('w1', wallet('w1', status));
          return { ok: true, value: wallets.get('w1') };
        },
      });
      const operations = new WalletOperations(ledger, 1_000n);
      const caller = { userId: 'user-1', roles: ['user'], sessionId: 's' };
      const keys = { idempotencyKey: 'k', resourceId: 'r', correlationId: 'c' };
      await expect(operations[operation](caller, { id: 'w1', ownerId: 'user-1', currency: 'USD' }, keys)).resolves.toMatchObject({ id: 'w1', status });
      expect(asked.length + commands).toBeLessThanOrEqual(BUS_CALLS_PER_REQUEST_MAX);
    }
  });

  it("sends a command bounded by its client's deadline alone: in a coalesced batch that deadline would bound the others too", async () => {
    const sent: KeyedPayload<{ type: string; commands?: unknown[] }>[] = [];
    const sender: RequestSender = {
      send<R, I>(_pattern: string, data: I) {
        const payload = data as unknown as KeyedPayload<{ type: string; commands?: unknown[] }>;
        sent.push(payload);
        const commands = payload.value.commands;
        return of((commands === undefined ? { ok: true, value: {} } : { ok: true, value: commands.map(() => ({ ok: true, value: {} })) }) as R);
      },
    };
    const coalesced = new LedgerClient(sender, 1, { coalesce: true });
    const operations = new WalletOperations(coalesced, 1_000n, new LedgerClient(sender, 1));
    const caller = { userId: 'user-1', roles: ['user'], sessionId: 's' };
    const facts = { id: 'w1', ownerId: 'user-1', currency: 'USD' as const };
    // A gRPC client's tight deadline (nearly spent) and an HTTP request, in the same turn on the same shard.
    const deadlineMs = Date.now() + 5;
    await Promise.all([
      operations.topUp(caller, facts, '1', undefined, { idempotencyKey: 'grpc', resourceId: 'r1', correlationId: 'c1', deadlineMs: () => deadlineMs }),
      operations.topUp(caller, facts, '2', undefined, { idempotencyKey: 'http', resourceId: 'r2', correlationId: 'c2' }),
      operations.topUp(caller, facts, '3', undefined, { idempotencyKey: 'http-2', resourceId: 'r3', correlationId: 'c3' }),
    ]);
    const carrying = (key: string) => sent.find((payload) => JSON.stringify(payload.value).includes(`"idempotencyKey":"${key}"`));
    expect(carrying('grpc')?.headers[BUS_HEADERS.deadline]).toBe(String(deadlineMs));
    expect(carrying('http')?.headers[BUS_HEADERS.deadline]).toBeUndefined();
    // The others still go as one batch.
    expect(carrying('http')).toBe(carrying('http-2'));
  });
});
