// A LedgerClient that coalesces: the commands of one shard sent in one turn travel as one
// CommandBatch message, and each caller gets exactly the reply its command gets alone.
import { throwError } from 'rxjs';
import { uuidv7, LEDGER_COMMAND_BATCH_MAX, LEDGER_TOPICS, type LedgerCommandEnvelope, type LedgerCommandMessage, type Reply } from '@ledger/contracts';
import { accountShard } from '@ledger/ledger';
import { keyed, KeyedPayload, LedgerClient, type RequestSender } from '@ledger/messaging';
import { startHarness, type Harness } from './testing/wallet-ledger.harness';

const SHARDS = 4;

function walletOnShard(shard: number): string {
  for (;;) {
    const id = uuidv7.next();
    if (accountShard(id, SHARDS) === shard) return id;
  }
}

const envelope = (message: LedgerCommandMessage, key: string) => ({ ...message, meta: { idempotencyKey: key, actor: 'test' } }) as LedgerCommandEnvelope;

describe('wallet-ledger: commands coalesced into one bus message per shard', () => {
  let h: Harness;
  /** What went over the bus: the type of each message (CommandBatch or the command's). */
  let sent: string[];
  let client: LedgerClient;

  beforeEach(async () => {
    h = await startHarness();
    sent = [];
    const proxy = (h.client as unknown as { client: RequestSender }).client;
    const counting: RequestSender = {
      send: (pattern, data) => {
        if (pattern === LEDGER_TOPICS.commands) sent.push(((data as KeyedPayload<{ type: string }>).value ?? (data as { type: string })).type);
        return proxy.send(pattern, data);
      },
    };
    client = new LedgerClient(counting, SHARDS, { coalesce: true });
  });

  afterEach(async () => {
    await h.close({ remove: true });
  });

  it('answers each command of a batch as it would answer it alone, in order', async () => {
    const [alice, bob] = [walletOnShard(0), walletOnShard(0)];
    const opened = await Promise.all([
      client.command(envelope({ type: 'OpenWallet', walletId: alice, ownerId: 'u1', currency: 'USD' }, 'open-a')),
      client.command(envelope({ type: 'OpenWallet', walletId: bob, ownerId: 'u2', currency: 'USD' }, 'open-b')),
    ]);
    expect(opened).toMatchObject([{ ok: true, value: { id: alice } }, { ok: true, value: { id: bob } }]);
    expect(sent).toEqual(['CommandBatch']);

    const replies = await Promise.all([
      client.command(envelope({ type: 'TopUp', walletId: alice, amount: '100' }, 'fund')),
      client.command(envelope({ type: 'Transfer', fromWalletId: alice, toWalletId: bob, amount: '60' }, 't1')),
      client.command(envelope({ type: 'Transfer', fromWalletId: alice, toWalletId: bob, amount: '60' }, 't2')), // 40 left
      client.command(envelope({ type: 'Transfer', fromWalletId: alice, toWalletId: bob, amount: '60' }, 't1')), // a retry of t1
      client.command(envelope({ type: 'TopUp', walletId: walletOnShard(0), amount: '1' }, 'nobody')),
    ]);
    expect(replies.map((reply) => (reply.ok ? 'ok' : reply.error.code))).toEqual(['ok', 'ok', 'insufficient_funds', 'ok', 'not_found']);
    expect((replies[3] as { value: unknown }).value).toEqual((replies[1] as { value: unknown }).value);
    expect(sent).toEqual(['CommandBatch', 'CommandBatch']);
    // The same commands sent one by one get the same replies.
    const alone = await h.client.command(envelope({ type: 'Transfer', fromWalletId: alice, toWalletId: bob, amount: '60' }, 't2'));
    expect(alone).toEqual(replies[2]);
  });

  it('sends one message per shard, and a lone command as itself', async () => {
    const wallets = [walletOnShard(1), walletOnShard(2), walletOnShard(2)];
    await Promise.all(wallets.map((walletId, n) => client.command(envelope({ type: 'OpenWallet', walletId, ownerId: 'u', currency: 'USD' }, `open-${n}`))));
    expect([...sent].sort()).toEqual(['CommandBatch', 'OpenWallet']);
  });

  it('the service refuses an empty or oversized batch', async () => {
    const proxy = (h.client as unknown as { client: RequestSender }).client;
    const send = (commands: unknown[]) =>
      new Promise<Reply<unknown>>((resolve, reject) =>
        proxy.send<Reply<unknown>>(LEDGER_TOPICS.commands, keyed('0', { type: 'CommandBatch', commands }, { partition: 0 })).subscribe({ next: resolve, error: reject }),
      );
    expect(await send([])).toMatchObject({ ok: false, error: { code: 'validation_failed' } });
    const tooMany = Array.from({ length: LEDGER_COMMAND_BATCH_MAX + 1 }, (_, n) => envelope({ type: 'FreezeWallet', walletId: 'w' }, `k${n}`));
    expect(await send(tooMany)).toMatchObject({ ok: false, error: { code: 'validation_failed' } });
  });

  it('a batch the transport fails rejects every command in it', async () => {
    const failing = new LedgerClient({ send: () => throwError(() => new Error('request timed out')) }, SHARDS, { coalesce: true });
    const walletId = walletOnShard(3);
    const results = await Promise.allSettled([
      failing.command(envelope({ type: 'TopUp', walletId, amount: '1' }, 'a')),
      failing.command(envelope({ type: 'TopUp', walletId, amount: '1' }, 'b')),
    ]);
    expect(results.map((result) => result.status)).toEqual(['rejected', 'rejected']);
  });
});
