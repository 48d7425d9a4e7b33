// API.md's Operations: liveness, readiness (the checks the composition hands in) and Prometheus
// metrics. /docs and /docs-json are served by @nestjs/swagger (see gateway.app.ts).
import { Controller, Get, HttpCode, Inject, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { Response } from 'express';
import { GATEWAY_CONFIG, READINESS_CHECKS } from '../gateway.tokens';
import type { GatewayConfig } from '../gateway.config';
import { GatewayMetrics } from '../observability/metrics';
import { checkReadiness, type ReadinessCheck } from '../observability/readiness';
import { Public } from './route-policy';

@ApiExcludeController()
@Public()
@Controller()
export class OperationsController {
  constructor(
    @Inject(READINESS_CHECKS) private readonly checks: readonly ReadinessCheck[],
    @Inject(GATEWAY_CONFIG) private readonly config: GatewayConfig,
    @Inject(GatewayMetrics) private readonly metrics: GatewayMetrics,
  ) {}

  @Get('healthz')
  @HttpCode(200)
  healthz(): { status: 'ok' } {
    return { status: 'ok' };
  }

  @Get('readyz')
  async readyz(@Res({ passthrough: true }) response: Response): Promise<{ status: 'ready' | 'not_ready'; checks: Record<string, string> }> {
    const report = await checkReadiness(this.checks, this.config.READINESS_TIMEOUT_MS);
    response.status(report.ready ? 200 : 503);
    return { status: report.ready ? 'ready' : 'not_ready', checks: report.checks };
  }

  @Get('metrics')
  async metricsText(@Res({ passthrough: true }) response: Response): Promise<string> {
    response.setHeader('Content-Type', this.metrics.contentType());
    return this.metrics.render();
  }
}
