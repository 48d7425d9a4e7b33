// Settings of the message bus and its Nest client, with safe defaults; read through the one
// config loader of @ledger/contracts, so a bad value stops the process naming the setting.
import { intSetting, loadConfig, type ConfigOf } from '@ledger/contracts';

/**
 * The least BUS_MAX_MESSAGE_BYTES: what the services send must fit, or a relay stops for good at
 * the first event over it (the largest ledger event, 64 postings at the limits, is about 23 KB),
 * and a coalesced batch of a shard's commands must not be cut small (LEDGER_COMMAND_BATCH_BYTES_MAX
 * is a quarter of it: at 256 KiB, bench:ledger's batches were halved and its rate fell by a fifth).
 */
export const BUS_MESSAGE_BYTES_MIN = 1024 * 1024;

export const messagingConfigSchema = {
  /** Partitions of a topic nobody declared (Kafka's num.partitions). */
  BUS_DEFAULT_PARTITIONS: intSetting(4, { min: 1, max: 1024 }),
  /** Messages a partition holds that some active group has not committed yet. */
  BUS_MAX_QUEUE_DEPTH: intSetting(10_000, { min: 1, max: 1_000_000 }),
  /** Key + value + headers of one message (Kafka's default max.message.bytes is about 1 MiB). */
  BUS_MAX_MESSAGE_BYTES: intSetting(1024 * 1024, { min: BUS_MESSAGE_BYTES_MIN, max: 16 * 1024 * 1024 }),
  /** Deliveries of one message before it goes to `<topic>.dlq`. */
  BUS_MAX_ATTEMPTS: intSetting(5, { min: 1, max: 100 }),
  /** Dead letters the embedded host keeps in DATA_DIR/dead-letters.sqlite; beyond it a new one is refused with a log line. */
  BUS_DLQ_MAX_MESSAGES: intSetting(10_000, { min: 1, max: 10_000_000 }),
  /** First pause before a redelivery; doubles per attempt up to BUS_RETRY_BACKOFF_MAX_MS. */
  BUS_RETRY_BACKOFF_MS: intSetting(50, { min: 0, max: 60_000 }),
  BUS_RETRY_BACKOFF_MAX_MS: intSetting(2_000, { min: 0, max: 300_000 }),
  /** How long a request waits for its reply. */
  BUS_REQUEST_TIMEOUT_MS: intSetting(5_000, { min: 1, max: 300_000 }),
  /** Requests of one client waiting for a reply at once. */
  BUS_MAX_PENDING_REQUESTS: intSetting(10_000, { min: 1, max: 1_000_000 }),
};

export type MessagingConfig = ConfigOf<typeof messagingConfigSchema>;

export function loadMessagingConfig(env: Readonly<Record<string, string | undefined>> = process.env): MessagingConfig {
  return loadConfig(messagingConfigSchema, env);
}

/** The defaults, for code that runs without an environment (tests, the host's fallbacks). */
export const DEFAULT_MESSAGING_CONFIG: MessagingConfig = loadMessagingConfig({});
