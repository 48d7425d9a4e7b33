export * from './event-store.port';
export * from './hash-chain';
export * from './event-rows';
export * from './sqlite/sqlite-event-store';
export * from './projections/projection-runner';
export * from './projections/sqlite-projection-db';
export * from './aggregate-streams';
export * from './group-commit';
