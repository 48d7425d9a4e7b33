// Test support shared by every lib and app; excluded from the build.
export * from './decider-spec';
export * from './wait-for';
export * from './ts-child-process';
