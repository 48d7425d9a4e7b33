// Wraps the bus client every service client sends through, so each request is counted and
// timed per topic, command or query type, and outcome.
import { performance } from 'node:perf_hooks';
import { defer, finalize, tap, type Observable } from 'rxjs';
import { isErrorCode } from '@ledger/contracts';
import { KeyedPayload, RequestTimeoutError, type RequestSender } from '@ledger/messaging';
import type { GatewayMetrics } from '../observability/metrics';

/** Message types are label values: anything not shaped like one is counted as `other`. */
const TYPE_LABEL = /^[A-Za-z]{1,40}$/;

export function instrumentedSender(sender: RequestSender, metrics: GatewayMetrics): RequestSender {
  return {
    send<TResult = unknown, TInput = unknown>(pattern: string, data: TInput): Observable<TResult> {
      return defer(() => {
        const startedAt = performance.now();
        const type = typeLabel(data);
        let outcome = 'no_reply';
        return sender.send<TResult, TInput>(pattern, data).pipe(
          tap({
            next: (reply) => {
              outcome = replyOutcome(reply);
            },
            error: (error: unknown) => {
              outcome = error instanceof RequestTimeoutError ? 'timeout' : 'failed';
            },
          }),
          finalize(() => metrics.observeBus(pattern, type, outcome, (performance.now() - startedAt) / 1000)),
        );
      });
    },
  };
}

function typeLabel(data: unknown): string {
  const message = data instanceof KeyedPayload ? data.value : data;
  const type = typeof message === 'object' && message !== null ? (message as { type?: unknown }).type : undefined;
  return typeof type === 'string' && TYPE_LABEL.test(type) ? type : 'other';
}

function replyOutcome(reply: unknown): string {
  if (typeof reply !== 'object' || reply === null) return 'invalid_reply';
  const { ok, error } = reply as { ok?: unknown; error?: { code?: unknown } };
  if (ok === true) return 'ok';
  return isErrorCode(error?.code) ? error.code : 'invalid_reply';
}
