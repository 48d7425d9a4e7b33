// What /readyz asks: each dependency the composition hands in answers whether it can serve now.
// The same shape as apps/host's ReadinessCheck, so the host passes its checks as they are.

export interface ReadinessCheck {
  readonly name: string;
  ready(): Promise<boolean>;
}

export interface ReadinessReport {
  readonly ready: boolean;
  readonly checks: Record<string, 'ok' | 'failing'>;
}

/**
 * `read` shared by the callers that ask while it runs: the checks of one /readyz all want the
 * store's head, and it is read once for them, not once each. The next /readyz reads it afresh.
 */
export function sharedWhileInFlight<T>(read: () => Promise<T>): () => Promise<T> {
  let running: Promise<T> | undefined;
  return () => {
    if (running !== undefined) return running;
    const started = read().finally(() => {
      if (running === started) running = undefined;
    });
    running = started;
    return started;
  };
}

/** Runs every check at once; one that throws or takes longer than `timeoutMs` is failing. */
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
