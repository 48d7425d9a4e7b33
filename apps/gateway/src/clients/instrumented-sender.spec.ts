import { of, throwError, type Observable } from 'rxjs';
import type { LedgerCommandEnvelope } from '@ledger/contracts';
import { KeyedPayload, LedgerClient, RequestTimeoutError, type RequestSender } from '@ledger/messaging';
import type { GatewayMetrics } from '../observability/metrics';
import { instrumentedSender } from './instrumented-sender';

type Observed = [topic: string, type: string, outcome: string];

function recorder(): { metrics: GatewayMetrics; observed: Observed[] } {
  const observed: Observed[] = [];
  const metrics = { observeBus: (topic: string, type: string, outcome: string) => observed.push([topic, type, outcome]) } as unknown as GatewayMetrics;
  return { metrics, observed };
}

/** Answers each message with `answer(message)`, and remembers what it was sent. */
function fakeSender(answer: (message: unknown) => Observable<unknown>): RequestSender & { sent: unknown[] } {
  const sent: unknown[] = [];
  return {
    sent,
    send<TResult>(_pattern: string, data: unknown): Observable<TResult> {
      const message = data instanceof KeyedPayload ? data.value : data;
      sent.push(message);
      return answer(message) as Observable<TResult>;
    },
  };
}

const meta = { idempotencyKey: 'k', actor: 'user:u' };
const topUp = (walletId: string, amount: string) => ({ type: 'TopUp', walletId, amount, meta }) as unknown as LedgerCommandEnvelope;

describe('instrumentedSender', () => {
  it('counts a single request by topic, type and outcome', async () => {
    const { metrics, observed } = recorder();
    const sender = instrumentedSender(fakeSender(() => of({ ok: false, error: { code: 'not_found', message: 'none' } })), metrics);
    await new Promise((resolve) => sender.send('ledger.queries', { type: 'GetWallet', walletId: 'w' }).subscribe({ complete: () => resolve(undefined) }));
    expect(observed).toEqual([['ledger.queries', 'GetWallet', 'not_found']]);
  });

  it('counts every command of a coalesced CommandBatch with its own outcome, never the batch', async () => {
    const { metrics, observed } = recorder();
    const downstream = fakeSender((message) => {
      const { commands } = message as { commands: { amount: string }[] };
      return of({ ok: true, value: commands.map((c) => (c.amount === '0' ? { ok: false, error: { code: 'validation_failed', message: 'zero' } } : { ok: true, value: {} })) });
    });
    const ledger = new LedgerClient(instrumentedSender(downstream, metrics), 1, { coalesce: true });
    const replies = await Promise.all([ledger.command(topUp('w1', '5')), ledger.command(topUp('w2', '0')), ledger.command(topUp('w3', '7'))]);
    expect(downstream.sent).toHaveLength(1);
    expect(replies.map((reply) => reply.ok)).toEqual([true, false, true]);
    expect(observed).toEqual([
      ['ledger.commands', 'TopUp', 'ok'],
      ['ledger.commands', 'TopUp', 'validation_failed'],
      ['ledger.commands', 'TopUp', 'ok'],
    ]);
  });

  it('gives every command of a batch the outcome of a batch that failed as a whole', async () => {
    const { metrics, observed } = recorder();
    const downstream = fakeSender(() => throwError(() => new RequestTimeoutError('ledger.commands', 10, 'c')));
    const ledger = new LedgerClient(instrumentedSender(downstream, metrics), 1, { coalesce: true });
    const settled = await Promise.allSettled([ledger.command(topUp('w1', '5')), ledger.command(topUp('w2', '6'))]);
    expect(settled.map((each) => each.status)).toEqual(['rejected', 'rejected']);
    expect(observed).toEqual([
      ['ledger.commands', 'TopUp', 'timeout'],
      ['ledger.commands', 'TopUp', 'timeout'],
    ]);
  });
});
