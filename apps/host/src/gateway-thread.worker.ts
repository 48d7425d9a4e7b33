// The gateway's thread (./gateway-thread.ts starts it): the whole gateway, over the main thread's
// event store and bus through their thread bridges. Answers `start` and `close` from the host.
import 'reflect-metadata';
import { workerData } from 'node:worker_threads';
import { Logger } from '@nestjs/common';
import { systemClock, ThreadLink } from '@ledger/contracts';
import { ThreadEventStore } from '@ledger/event-store';
import { ThreadBus } from '@ledger/messaging';
import { startGateway, type RunningGateway } from '../../gateway/src/gateway.app';
import { loadGatewayConfig } from '../../gateway/src/gateway.config';
import { createGatewayLogger, NestPinoLogger, type GatewayLogger } from '../../gateway/src/observability/logger';
import { HOST_LINK_ERRORS, type GatewayThreadData, type StartedGateway } from './gateway-thread';

const data = workerData as GatewayThreadData;
const store = new ThreadEventStore(data.store);
const bus = new ThreadBus(data.bus);
let gateway: RunningGateway | undefined;
let logger: GatewayLogger | undefined;

const host: ThreadLink = new ThreadLink(
  data.host,
  {
    async start(): Promise<StartedGateway> {
      const config = loadGatewayConfig(data.env);
      logger = createGatewayLogger({ level: config.LOG_LEVEL, service: 'host' });
      Logger.overrideLogger(new NestPinoLogger(logger));
      gateway = await startGateway({
        config,
        dataDir: data.dataDir,
        store,
        bus,
        clock: systemClock,
        logger,
        readinessChecks: data.checks.map((name) => ({ name, ready: () => host.call<boolean>('ready', name) })),
      });
      return { url: gateway.url, port: gateway.port, grpcPort: gateway.grpcPort };
    },
    async close(): Promise<void> {
      await gateway?.close();
      await bus.close();
      await store.close();
      // Written out before the host ends the thread: pino writes asynchronously.
      await new Promise<void>((resolve) => (logger === undefined ? resolve() : logger.flush(() => resolve())));
    },
  },
  HOST_LINK_ERRORS,
);
