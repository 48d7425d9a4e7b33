// What /readyz asks: each dependency the host needs answers whether it can serve now.

export interface ReadinessCheck {
  readonly name: string;
  ready(): Promise<boolean>;
}

export const READINESS_CHECKS = Symbol('READINESS_CHECKS');

export interface ReadinessReport {
  readonly ready: boolean;
  readonly checks: Record<string, 'ok' | 'failing'>;
}

/** Runs every check; a check that throws or takes longer than `timeoutMs` is failing. */
export async function checkReadiness(checks: readonly ReadinessCheck[], timeoutMs: number): Promise<ReadinessReport> {
  const results = await Promise.all(
    checks.map(async (check) => {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), timeoutMs);
      });
      try {
        return [check.name, await Promise.race([check.ready().catch(() => false), timeout])] as const;
      } finally {
        clearTimeout(timer);
      }
    }),
  );
  const report: Record<string, 'ok' | 'failing'> = {};
  for (const [name, ok] of results) report[name] = ok ? 'ok' : 'failing';
  return { ready: results.every(([, ok]) => ok), checks: report };
}
