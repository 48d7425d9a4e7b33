import type { LedgerQueryMessage, Reply, WalletView } from '@ledger/contracts';
import type { LedgerClient } from '@ledger/messaging';
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
});
