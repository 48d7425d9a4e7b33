// Waiting between retries, cut short when the owner stops (so a stop never sits out a backoff): the event store's.
export { retryPause as pause } from '@ledger/event-store';
