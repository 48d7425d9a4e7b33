// Prometheus metrics of one gateway instance (its own registry, so several can run in one
// process): HTTP requests per route and status, gRPC calls per method and status code, bus
// requests per command type and outcome, and how busy the main event loop is.
import { performance } from 'node:perf_hooks';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

const LATENCY_BUCKETS_S = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export class GatewayMetrics {
  readonly registry = new Registry();

  private readonly httpRequests = new Counter({
    name: 'gateway_http_requests_total',
    help: 'HTTP requests answered, by method, route pattern and status.',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [this.registry],
  });

  private readonly httpDuration = new Histogram({
    name: 'gateway_http_request_duration_seconds',
    help: 'Time from request to the last byte of the response, by method, route pattern and status.',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: LATENCY_BUCKETS_S,
    registers: [this.registry],
  });

  private readonly grpcCalls = new Counter({
    name: 'gateway_grpc_calls_total',
    help: 'gRPC calls answered, by method (/ledger.v1.Service/Method) and status code name.',
    labelNames: ['method', 'code'] as const,
    registers: [this.registry],
  });

  private readonly grpcDuration = new Histogram({
    name: 'gateway_grpc_call_duration_seconds',
    help: 'Time from a gRPC call to its answer, by method and status code name.',
    labelNames: ['method', 'code'] as const,
    buckets: LATENCY_BUCKETS_S,
    registers: [this.registry],
  });

  private readonly busRequests = new Counter({
    name: 'gateway_bus_requests_total',
    help: 'Requests sent on the bus, by topic, command or query type, and outcome (ok, an error code, timeout, failed).',
    labelNames: ['topic', 'type', 'outcome'] as const,
    registers: [this.registry],
  });

  private readonly busDuration = new Histogram({
    name: 'gateway_bus_request_duration_seconds',
    help: 'Time until a bus request was answered, by topic and command or query type.',
    labelNames: ['topic', 'type'] as const,
    buckets: LATENCY_BUCKETS_S,
    registers: [this.registry],
  });

  private readonly idempotency = new Counter({
    name: 'gateway_idempotency_keys_total',
    help: 'Requests with an Idempotency-Key, by what the key decided (proceed, replay, reuse, in_flight).',
    labelNames: ['decision'] as const,
    registers: [this.registry],
  });

  private readonly rateLimited = new Counter({
    name: 'gateway_rate_limited_total',
    help: 'Requests refused by a rate limit, by limit name.',
    labelNames: ['limit'] as const,
    registers: [this.registry],
  });

  private readonly readiness = new Gauge({
    name: 'gateway_readiness_check_ok',
    help: 'Each /readyz check as of the last /readyz: 1 ok, 0 failing (e.g. a stalled event relay).',
    labelNames: ['check'] as const,
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'gateway_' });
    let counted = 0;
    new Counter({
      name: 'gateway_event_loop_active_seconds_total',
      help: 'Time the main event loop spent running code rather than waiting for I/O; its rate is the loop utilization (near 1, work queues).',
      registers: [this.registry],
      collect() {
        const active = performance.eventLoopUtilization().active / 1000;
        if (active > counted) this.inc(active - counted);
        counted = Math.max(counted, active);
      },
    });
  }

  observeHttp(method: string, route: string, status: number, seconds: number): void {
    const labels = { method, route, status: String(status) };
    this.httpRequests.inc(labels);
    this.httpDuration.observe(labels, seconds);
  }

  observeGrpc(method: string, code: string, seconds: number): void {
    const labels = { method, code };
    this.grpcCalls.inc(labels);
    this.grpcDuration.observe(labels, seconds);
  }

  observeBus(topic: string, type: string, outcome: string, seconds: number): void {
    this.busRequests.inc({ topic, type, outcome });
    this.busDuration.observe({ topic, type }, seconds);
  }

  countIdempotency(decision: string): void {
    this.idempotency.inc({ decision });
  }

  observeReadiness(checks: Readonly<Record<string, 'ok' | 'failing'>>): void {
    for (const [check, state] of Object.entries(checks)) this.readiness.set({ check }, state === 'ok' ? 1 : 0);
  }

  countRateLimited(limit: string): void {
    this.rateLimited.inc({ limit });
  }

  contentType(): string {
    return this.registry.contentType;
  }

  render(): Promise<string> {
    return this.registry.metrics();
  }
}
