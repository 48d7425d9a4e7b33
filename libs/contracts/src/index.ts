export * from './money';
export * from './ids';
export * from './clock';
export * from './canonical-json';
export * from './envelope';
export * from './errors';
export * from './config';
export * from './ledger-messages';
