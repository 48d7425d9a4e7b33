// Every service's exception filter on the bus: a handler that failed on storage for a reason that
// passes (SQLite busy or locked, a full disk, I/O) answers `unavailable`, retryable, so the caller
// retries with the same idempotency key (which the services deduplicate) instead of reporting an
// internal error. Anything else is Nest's own answer.
import { ArgumentsHost, Catch } from '@nestjs/common';
import { BaseRpcExceptionFilter } from '@nestjs/microservices';
import { throwError, type Observable } from 'rxjs';
import { isTransientSqliteError } from '@ledger/event-store';
import { unavailableReply } from './bus-protocol';

export const STORAGE_UNAVAILABLE = unavailableReply('the service could not reach its storage; retry');

@Catch()
export class BusExceptionFilter extends BaseRpcExceptionFilter {
  override catch(exception: unknown, host: ArgumentsHost): Observable<unknown> {
    if (isTransientSqliteError(exception)) return throwError(() => STORAGE_UNAVAILABLE);
    return super.catch(exception, host);
  }
}
