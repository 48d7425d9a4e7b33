// Reads that fail for a while (SQLITE_BUSY from another process's lock, an I/O error, a full
// disk) are tried again after a pause, never turned into a follower stopped for good.

/** First pause after a failed read; doubles per failure in a row up to READ_RETRY_BACKOFF_MAX_MS. */
export const READ_RETRY_BACKOFF_MS = 10;
export const READ_RETRY_BACKOFF_MAX_MS = 1_000;

/** The pause before the next try after `failures` failures in a row (1 or more). */
export function readRetryBackoffMs(failures: number): number {
  return Math.min(READ_RETRY_BACKOFF_MS * 2 ** Math.min(failures - 1, 16), READ_RETRY_BACKOFF_MAX_MS);
}

/** Resolves after `ms`, or at once when `signal` aborts (a stop never sits out a backoff); `ms <= 0` still yields one event-loop turn. */
export function retryPause(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  if (ms <= 0) return new Promise((resolve) => setImmediate(resolve));
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

/** SQLite's codes for a condition that passes (a lock, I/O, a full disk, memory): the same write may succeed later. */
const TRANSIENT_SQLITE_CODE = /^SQLITE_(BUSY|LOCKED|IOERR|FULL|NOMEM|PROTOCOL|CANTOPEN)(_|$)/;

export function isTransientSqliteError(error: unknown): boolean {
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  return typeof code === 'string' && TRANSIENT_SQLITE_CODE.test(code);
}
