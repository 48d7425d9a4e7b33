// A gRPC client of the gateway as an outside app would be: @grpc/grpc-js over the same protos,
// with helpers that send the metadata (bearer token, idempotency key, network key) and read
// the answer, the replay flag and the error detail.
import { credentials, loadPackageDefinition, Metadata, type Client, type GrpcObject, type ServiceClientConstructor, type ServiceError } from '@grpc/grpc-js';
import { GRPC_SERVICES } from '@ledger/contracts';
import { loadLedgerProtos, PROTO_LOADER_OPTIONS } from '../grpc/grpc-server';
import { AUTHORIZATION_METADATA, IDEMPOTENCY_KEY_METADATA, NETWORK_KEY_METADATA, REPLAYED_METADATA } from '../grpc/grpc-edge';
import { decodeStatus, STATUS_DETAILS_TRAILER } from '../transport/grpc-errors';

export type GrpcServiceName = (typeof GRPC_SERVICES)[number];

export interface GrpcCallOptions {
  readonly token?: string;
  readonly key?: string;
  readonly networkKey?: string;
  /** Raw metadata on top (e.g. a malformed authorization). */
  readonly metadata?: Record<string, string>;
}

export interface GrpcFailure {
  /** The gRPC status code. */
  readonly status: number;
  readonly message: string;
  /** API.md's envelope from the status details trailer. */
  readonly code: string;
  readonly details: any;
  readonly typeUrl: string;
  /** The `retry-after` trailer (seconds), when there is one. */
  readonly retryAfter?: string;
}

export interface GrpcAnswer {
  /** Loosely typed: tests read whatever came back. */
  readonly response?: any;
  readonly error?: GrpcFailure;
  /** `idempotent-replayed: true` arrived in the initial metadata. */
  readonly replayed: boolean;
}

export interface GrpcClients {
  call(service: GrpcServiceName, method: string, request: object, options?: GrpcCallOptions): Promise<GrpcAnswer>;
  close(): void;
}

/** Clients read defaults (empty lists, false, "") as present, as generated clients do. */
export function connectGrpc(port: number): GrpcClients {
  const ledger = (loadPackageDefinition(loadLedgerProtos({ ...PROTO_LOADER_OPTIONS, defaults: true })).ledger as GrpcObject).v1 as GrpcObject;
  const clients = new Map<GrpcServiceName, Client>();
  for (const name of GRPC_SERVICES) {
    const Constructor = ledger[name] as ServiceClientConstructor;
    clients.set(name, new Constructor(`127.0.0.1:${port}`, credentials.createInsecure()));
  }
  return {
    call(service, method, request, options = {}) {
      const metadata = new Metadata();
      if (options.token !== undefined) metadata.set(AUTHORIZATION_METADATA, `Bearer ${options.token}`);
      if (options.key !== undefined) metadata.set(IDEMPOTENCY_KEY_METADATA, options.key);
      if (options.networkKey !== undefined) metadata.set(NETWORK_KEY_METADATA, options.networkKey);
      for (const [name, value] of Object.entries(options.metadata ?? {})) metadata.set(name, value);
      const client = clients.get(service) as unknown as Record<string, Function>;
      if (typeof client[method] !== 'function') throw new Error(`no method ${service}.${method}`);
      return new Promise((resolve) => {
        let replayed = false;
        const call = client[method].call(client, request, metadata, { deadline: Date.now() + 20_000 }, (error: ServiceError | null, response: unknown) => {
          if (error === null) return resolve({ response, replayed });
          const [trailer] = error.metadata?.get(STATUS_DETAILS_TRAILER) ?? [];
          const decoded = Buffer.isBuffer(trailer) ? decodeStatus(trailer).details[0] : undefined;
          const [retryAfter] = error.metadata?.get('retry-after') ?? [];
          const failure = { status: error.code, message: error.details, code: decoded?.code ?? '', details: decoded?.details, typeUrl: decoded?.typeUrl ?? '' };
          resolve({ replayed, error: retryAfter === undefined ? failure : { ...failure, retryAfter: String(retryAfter) } });
        });
        call.on('metadata', (initial: Metadata) => {
          replayed = initial.get(REPLAYED_METADATA)[0] === 'true';
        });
      });
    },
    close() {
      for (const client of clients.values()) client.close();
    },
  };
}
