// One Jest config for the monorepo: swc compiles our TypeScript and Nest's ES modules to CommonJS.
/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/apps', '<rootDir>/libs'],
  testMatch: ['**/*.spec.ts'],
  transform: {
    '^.+\\.(t|j|mj)s$': [
      '@swc/jest',
      {
        jsc: {
          parser: { syntax: 'typescript', decorators: true },
          transform: { legacyDecorator: true, decoratorMetadata: true },
          target: 'es2022',
        },
        module: { type: 'commonjs' },
      },
    ],
  },
  transformIgnorePatterns: ['/node_modules/(?!(@nestjs)/)'],
  moduleNameMapper: {
    '^@ledger/contracts$': '<rootDir>/libs/contracts/src/index.ts',
    '^@ledger/contracts/testing$': '<rootDir>/libs/contracts/src/testing/index.ts',
    '^@ledger/ledger$': '<rootDir>/libs/ledger/src/index.ts',
    '^@ledger/event-store$': '<rootDir>/libs/event-store/src/index.ts',
    '^@ledger/messaging$': '<rootDir>/libs/messaging/src/index.ts',
  },
  moduleFileExtensions: ['ts', 'js', 'mjs', 'json'],
  testTimeout: 30000,
};
