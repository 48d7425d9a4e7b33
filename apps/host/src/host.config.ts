// Settings of the embedded host itself (the gateway reads PORT, HOST, BODY_LIMIT_BYTES); read
// once at start, a bad value stops the process naming it.
import { enumSetting, intSetting, loadConfig, stringSetting, type ConfigOf } from '@ledger/contracts';

export const hostConfigSchema = {
  DATA_DIR: stringSetting('./data', { maxLength: 1024 }),
  SQLITE_SYNCHRONOUS: enumSetting('FULL', ['FULL', 'NORMAL'] as const),
  SHUTDOWN_TIMEOUT_MS: intSetting(10_000, { min: 100, max: 120_000 }),
};

export type HostConfig = ConfigOf<typeof hostConfigSchema>;

export function loadHostConfig(env: Readonly<Record<string, string | undefined>> = process.env): HostConfig {
  return loadConfig(hostConfigSchema, env);
}
