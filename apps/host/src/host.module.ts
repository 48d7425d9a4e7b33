// The embedded host's root module: one process that will host every service.
import { Module, type DynamicModule } from '@nestjs/common';
import { HealthController } from './health.controller';
import { READINESS_CHECKS, type ReadinessCheck } from './readiness';

export interface HostModuleOptions {
  readonly readinessChecks: readonly ReadinessCheck[];
}

@Module({})
export class HostModule {
  static forRoot(options: HostModuleOptions): DynamicModule {
    return {
      module: HostModule,
      controllers: [HealthController],
      providers: [{ provide: READINESS_CHECKS, useValue: [...options.readinessChecks] }],
    };
  }
}
