// Settings of the embedded host, read once at start; a bad value stops the process naming it.
import { enumSetting, intSetting, loadConfig, stringSetting, type ConfigOf } from '@ledger/contracts';

export const hostConfigSchema = {
  PORT: intSetting(3000, { min: 0, max: 65535 }),
  HOST: stringSetting('127.0.0.1', { maxLength: 255 }),
  DATA_DIR: stringSetting('./data', { maxLength: 1024 }),
  SQLITE_SYNCHRONOUS: enumSetting('FULL', ['FULL', 'NORMAL'] as const),
  BODY_LIMIT_BYTES: intSetting(64 * 1024, { min: 1024, max: 10 * 1024 * 1024 }),
  SHUTDOWN_TIMEOUT_MS: intSetting(10_000, { min: 100, max: 120_000 }),
};

export type HostConfig = ConfigOf<typeof hostConfigSchema>;

export function loadHostConfig(env: Readonly<Record<string, string | undefined>> = process.env): HostConfig {
  return loadConfig(hostConfigSchema, env);
}
