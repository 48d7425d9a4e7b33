export * from './event-store.port';
export * from './hash-chain';
