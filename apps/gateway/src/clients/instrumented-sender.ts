// Wraps the bus client every service client sends through, so each request is counted and
// timed per topic, command or query type, and outcome. A ledger CommandBatch (many commands in
// one message) counts each command it carries, with that command's own outcome.
import { performance } from 'node:perf_hooks';
import { defer, finalize, tap, type Observable } from 'rxjs';
import { isErrorCode } from '@ledger/contracts';
import { KeyedPayload, RequestTimeoutError, type RequestSender } from '@ledger/messaging';
import type { GatewayMetrics } from '../observability/metrics';

/** Message types are label values: anything not shaped like one is counted as `other`. */
const TYPE_LABEL = /^[A-Za-z]{1,40}$/;
const BATCH_TYPE = 'CommandBatch';

export function instrumentedSender(sender: RequestSender, metrics: GatewayMetrics): RequestSender {
  return {
    send<TResult = unknown, TInput = unknown>(pattern: string, data: TInput): Observable<TResult> {
      return defer(() => {
        const startedAt = performance.now();
        const message = data instanceof KeyedPayload ? data.value : data;
        const batch = batchedCommands(message);
        const types = batch === undefined ? [typeLabel(message)] : batch.map(typeLabel);
        let outcomes: string[] | string = 'no_reply';
        return sender.send<TResult, TInput>(pattern, data).pipe(
          tap({
            next: (reply) => {
              outcomes = batch === undefined ? replyOutcome(reply) : batchOutcomes(reply, batch.length);
            },
            error: (error: unknown) => {
              outcomes = error instanceof RequestTimeoutError ? 'timeout' : 'failed';
            },
          }),
          finalize(() => {
            const seconds = (performance.now() - startedAt) / 1000;
            types.forEach((type, index) => metrics.observeBus(pattern, type, typeof outcomes === 'string' ? outcomes : outcomes[index], seconds));
          }),
        );
      });
    },
  };
}

/** The commands of a CommandBatch, or undefined for any other message. */
function batchedCommands(message: unknown): readonly unknown[] | undefined {
  if (typeof message !== 'object' || message === null) return undefined;
  const { type, commands } = message as { type?: unknown; commands?: unknown };
  return type === BATCH_TYPE && Array.isArray(commands) ? commands : undefined;
}

function typeLabel(message: unknown): string {
  const type = typeof message === 'object' && message !== null ? (message as { type?: unknown }).type : undefined;
  return typeof type === 'string' && TYPE_LABEL.test(type) ? type : 'other';
}

function replyOutcome(reply: unknown): string {
  if (typeof reply !== 'object' || reply === null) return 'invalid_reply';
  const { ok, error } = reply as { ok?: unknown; error?: { code?: unknown } };
  if (ok === true) return 'ok';
  return isErrorCode(error?.code) ? error.code : 'invalid_reply';
}

/** A batch's reply is one reply per command; a batch refused as a whole gives each command that outcome. */
function batchOutcomes(reply: unknown, count: number): string[] | string {
  const whole = replyOutcome(reply);
  if (whole !== 'ok') return whole;
  const replies = (reply as { value?: unknown }).value;
  return Array.isArray(replies) && replies.length === count ? replies.map(replyOutcome) : 'invalid_reply';
}
