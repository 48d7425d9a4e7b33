// The gateway on a thread of its own (./gateway-thread.worker.ts): HTTP, gRPC, validation,
// tokens and idempotency records run there, the services on the main thread, so the two event
// loops share the work of a request. The gateway reaches the main thread's event store and bus
// through their thread bridges, exactly as it would reach them in its own process.
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import { ConfigError, ThreadLink, type LinkErrors } from '@ledger/contracts';
import { serveEventStoreOverPort, workerScript, type EventStore } from '@ledger/event-store';
import { serveBusOverPort, type MessageBus } from '@ledger/messaging';
import type { ReadinessCheck } from '../../gateway/src/observability/readiness';

/** What the worker is started with (workerData). */
export interface GatewayThreadData {
  readonly env: Readonly<Record<string, string>>;
  readonly dataDir: string;
  readonly store: MessagePort;
  readonly bus: MessagePort;
  readonly host: MessagePort;
  /** Names of the main thread's readiness checks; /readyz asks each through the host link. */
  readonly checks: readonly string[];
}

/** What the worker answers to `start`. */
export interface StartedGateway {
  readonly url: string;
  readonly port: number;
  readonly grpcPort: number;
}

interface WireHostError {
  readonly name: string;
  readonly message: string;
  readonly setting?: string;
}

/** Errors between the host and its gateway thread: a ConfigError keeps its class, so a bad PORT still stops `npm start` naming it. */
export const HOST_LINK_ERRORS: LinkErrors = {
  encode(error: unknown): WireHostError {
    if (error instanceof ConfigError) return { name: error.name, message: error.message, setting: error.setting };
    return error instanceof Error ? { name: error.name, message: error.stack ?? error.message } : { name: 'Error', message: String(error) };
  },
  decode(wire: unknown): Error {
    const error = wire as WireHostError;
    if (error.name === 'ConfigError') return Object.assign(new ConfigError(error.setting ?? '', ''), { message: error.message });
    return Object.assign(new Error(error.message), { name: error.name });
  },
};

export interface GatewayThreadOptions {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly dataDir: string;
  readonly store: EventStore;
  readonly bus: MessageBus;
  readonly readinessChecks: readonly ReadinessCheck[];
  /** The thread ended on its own after it started (an uncaught error): the host has no gateway any more. */
  readonly onFailure: (error: Error) => void;
}

export interface RunningGatewayThread extends StartedGateway {
  close(): Promise<void>;
  /** Ends the thread at once, as a crash would (tests: the host must learn of it). */
  terminate(): Promise<void>;
}

export async function startGatewayThread(options: GatewayThreadOptions): Promise<RunningGatewayThread> {
  const store = new MessageChannel();
  const bus = new MessageChannel();
  const host = new MessageChannel();
  serveEventStoreOverPort(store.port1, options.store);
  serveBusOverPort(bus.port1, options.bus);
  const checks = new Map(options.readinessChecks.map((check) => [check.name, check]));
  const link = new ThreadLink(host.port1, { ready: async (name: string) => (await checks.get(name)?.ready()) === true }, HOST_LINK_ERRORS);
  const env = Object.fromEntries(Object.entries(options.env).filter((entry): entry is [string, string] => entry[1] !== undefined));
  const data: GatewayThreadData = { env, dataDir: options.dataDir, store: store.port2, bus: bus.port2, host: host.port2, checks: [...checks.keys()] };
  const script = workerScript(__dirname, 'gateway-thread.worker', __filename);
  const worker = new Worker(script.file, { workerData: data, transferList: [store.port2, bus.port2, host.port2], execArgv: script.execArgv });

  let closing = false;
  let failure: Error | undefined;
  const exited = new Promise<void>((resolve) => {
    worker.on('error', (error) => (failure ??= error));
    worker.once('exit', (code) => {
      failure ??= new Error(`the gateway thread exited (code ${code})`);
      store.port1.close();
      bus.port1.close();
      link.close();
      resolve();
      if (!closing && started) options.onFailure(failure);
    });
  });
  let started = false;
  try {
    const gateway = await Promise.race([link.call<StartedGateway>('start'), exited.then(() => Promise.reject(failure))]);
    started = true;
    return {
      ...gateway,
      async close() {
        closing = true;
        await link.call('close').catch(() => undefined); // a thread already gone has nothing left to close
        await worker.terminate();
        await exited;
      },
      async terminate() {
        await worker.terminate();
        await exited;
      },
    };
  } catch (error) {
    closing = true;
    await worker.terminate();
    await exited;
    throw error;
  }
}
