// Liveness and readiness for orchestrators and the quick start.
import { Controller, Get, HttpCode, Inject, Res } from '@nestjs/common';
import type { Response } from 'express';
import { checkReadiness, READINESS_CHECKS, type ReadinessCheck } from './readiness';

const READINESS_TIMEOUT_MS = 2_000;

@Controller()
export class HealthController {
  constructor(@Inject(READINESS_CHECKS) private readonly checks: ReadinessCheck[]) {}

  @Get('healthz')
  @HttpCode(200)
  healthz(): { status: 'ok' } {
    return { status: 'ok' };
  }

  @Get('readyz')
  async readyz(@Res({ passthrough: true }) response: Response): Promise<{ status: 'ready' | 'not_ready'; checks: Record<string, string> }> {
    const report = await checkReadiness(this.checks, READINESS_TIMEOUT_MS);
    response.status(report.ready ? 200 : 503);
    return { status: report.ready ? 'ready' : 'not_ready', checks: report.checks };
  }
}
