// API.md's Operations: liveness, readiness (the checks the composition hands in) and Prometheus
// metrics. /docs and /docs-json are served by @nestjs/swagger (see gateway.app.ts).
import { Controller, Get, HttpCode, Inject, Res } from '@nestjs/common';
import { ApiOkResponse, ApiProduces, ApiProperty, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { GATEWAY_CONFIG, READINESS_CHECKS } from '../gateway.tokens';
import type { GatewayConfig } from '../gateway.config';
import { GatewayMetrics } from '../observability/metrics';
import { checkReadiness, type ReadinessCheck } from '../observability/readiness';
import { Public } from './route-policy';

class HealthResponse {
  @ApiProperty({ enum: ['ok'] }) status!: 'ok';
}

class ReadinessResponse {
  @ApiProperty({ enum: ['ready', 'not_ready'] }) status!: 'ready' | 'not_ready';
  @ApiProperty({ type: 'object', additionalProperties: { type: 'string' }, description: 'Each check: ok, or why it failed' }) checks!: Record<string, string>;
}

@ApiTags('operations')
@Public()
@Controller()
export class OperationsController {
  constructor(
    @Inject(READINESS_CHECKS) private readonly checks: readonly ReadinessCheck[],
    @Inject(GATEWAY_CONFIG) private readonly config: GatewayConfig,
    @Inject(GatewayMetrics) private readonly metrics: GatewayMetrics,
  ) {}

  @Get('healthz')
  @ApiOkResponse({ type: HealthResponse, description: 'Alive' })
  @HttpCode(200)
  healthz(): { status: 'ok' } {
    return { status: 'ok' };
  }

  @Get('readyz')
  @ApiOkResponse({ type: ReadinessResponse, description: 'Event store, bus and projections caught up' })
  @ApiResponse({ status: 503, type: ReadinessResponse, description: 'Not ready: the failing checks' })
  async readyz(@Res({ passthrough: true }) response: Response): Promise<{ status: 'ready' | 'not_ready'; checks: Record<string, string> }> {
    const report = await checkReadiness(this.checks, this.config.READINESS_TIMEOUT_MS);
    this.metrics.observeReadiness(report.checks);
    response.status(report.ready ? 200 : 503);
    return { status: report.ready ? 'ready' : 'not_ready', checks: report.checks };
  }

  @Get('metrics')
  @ApiProduces('text/plain')
  @ApiOkResponse({ schema: { type: 'string' }, description: 'Prometheus text exposition' })
  async metricsText(@Res({ passthrough: true }) response: Response): Promise<string> {
    response.setHeader('Content-Type', this.metrics.contentType());
    return this.metrics.render();
  }
}
