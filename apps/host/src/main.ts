// `npm start`: the embedded host, every service in one process, no servers to install.
import { ConfigError } from '@ledger/contracts';
import { startHost } from './host';

async function main(): Promise<void> {
  const host = await startHost();
  // Before the banner: whoever reads it may signal at once (the signal's default would kill the process mid-write).
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    process.stdout.write(`${signal} received, closing\n`);
    const deadline = setTimeout(() => process.exit(1), host.config.SHUTDOWN_TIMEOUT_MS);
    deadline.unref();
    host.close().then(
      () => process.exit(0),
      (error: unknown) => {
        process.stderr.write(`error while closing: ${String(error)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.stdout.write(
    [
      `ledger embedded host listening on ${host.url}`,
      `  health:    ${host.url}/healthz`,
      `  readiness: ${host.url}/readyz`,
      `  API docs:  ${host.url}/docs`,
      `  metrics:   ${host.url}/metrics`,
      `  gRPC:      ${new URL(host.url).hostname}:${host.grpcPort} (package ledger.v1, server reflection on)`,
      `  data dir:  ${host.config.DATA_DIR}`,
      // A configured key is a secret and never printed; the embedded default is (API.md).
      ...(host.defaultNetworkKey === null ? [] : [`  card network key (X-Network-Key): ${host.defaultNetworkKey} (the default; set NETWORK_API_KEY)`]),
      '',
    ].join('\n'),
  );
}

main().catch((error: unknown) => {
  if (error instanceof ConfigError) {
    process.stderr.write(`${error.message}\n`);
    process.exit(78); // EX_CONFIG
  }
  process.stderr.write(`failed to start: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
