// `npm run bench:grpc`: transfers/s and p50/p99 through the gateway over gRPC, next to the same
// transfers over HTTP, measured in one run against one host process (as `npm start` runs it).
import { credentials, loadPackageDefinition, Metadata, type GrpcObject, type ServiceClientConstructor, type ServiceError } from '@grpc/grpc-js';
import { loadLedgerProtos, PROTO_LOADER_OPTIONS } from '../src/grpc/grpc-server';
import { closedLoop, openFundedWallets, printResults, startHostProcess, TRANSFER_BENCH_ENV, withHostCpu } from './http-load';

const PORT = Number(process.env.BENCH_PORT ?? 3979);
const GRPC_PORT = Number(process.env.BENCH_GRPC_PORT ?? 3980);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 64);
const WALLETS = 32;

async function main(): Promise<void> {
  const host = await startHostProcess(PORT, { ...TRANSFER_BENCH_ENV, GRPC_PORT: String(GRPC_PORT) });
  const ledger = (loadPackageDefinition(loadLedgerProtos(PROTO_LOADER_OPTIONS)).ledger as GrpcObject).v1 as GrpcObject;
  const Wallets = ledger.Wallets as ServiceClientConstructor;
  const client = new Wallets(`127.0.0.1:${GRPC_PORT}`, credentials.createInsecure()) as unknown as {
    transfer(request: object, metadata: Metadata, callback: (error: ServiceError | null) => void): void;
    close(): void;
  };
  try {
    const { token, pair } = await openFundedWallets(host, WALLETS);

    const load = { concurrency: CONCURRENCY, seconds: SECONDS };
    const grpcTransfer = (prefix: string) => (i: number) => {
      const metadata = new Metadata();
      metadata.set('authorization', `Bearer ${token}`);
      metadata.set('idempotency-key', `${prefix}-${i}`);
      return new Promise<boolean>((resolve) => client.transfer(pair(i), metadata, (error) => resolve(error === null)));
    };
    const httpTransfer = (prefix: string) => async (i: number) =>
      (await host.json('POST', '/v1/transfers', { token, body: pair(i), key: `${prefix}-${i}` })).status === 201;
    // Warm both paths (JIT, the ledger's caches) before anything is measured.
    await closedLoop('warm-up', { concurrency: CONCURRENCY, seconds: 2 }, grpcTransfer('wg'));
    await closedLoop('warm-up', { concurrency: CONCURRENCY, seconds: 2 }, httpTransfer('wh'));
    const overGrpc = await withHostCpu(host, () => closedLoop('gRPC Wallets/Transfer', load, grpcTransfer('g')));
    const overHttp = await withHostCpu(host, () => closedLoop('POST /v1/transfers', load, httpTransfer('h')));

    console.log(`gateway gRPC bench: Node ${process.version}, ${CONCURRENCY} calls in a closed loop, ${SECONDS} s each, host in a child process`);
    printResults([overGrpc, overHttp]);
  } finally {
    client.close();
    await host.close();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
