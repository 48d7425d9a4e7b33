// Reads that fail for a while (SQLITE_BUSY from another process's lock, an I/O error, a full
// disk) are tried again after a pause, never turned into a follower stopped for good.

/** First pause after a failed read; doubles per failure in a row up to READ_RETRY_BACKOFF_MAX_MS. */
export const READ_RETRY_BACKOFF_MS = 10;
export const READ_RETRY_BACKOFF_MAX_MS = 1_000;

/** The pause before the next try after `failures` failures in a row (1 or more). */
export function readRetryBackoffMs(failures: number): number {
  return Math.min(READ_RETRY_BACKOFF_MS * 2 ** Math.min(failures - 1, 16), READ_RETRY_BACKOFF_MAX_MS);
}
