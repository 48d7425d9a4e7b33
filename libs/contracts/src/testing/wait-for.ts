// Waiting in tests by polling a condition against a deadline, never by a fixed sleep.

export interface WaitOptions {
  readonly timeoutMs?: number;
  readonly intervalMs?: number;
}

/**
 * Resolves as soon as `condition` returns true (or an assertion callback stops throwing);
 * rejects after `timeoutMs` with `description` and the last failure.
 */
export async function waitFor(
  description: string,
  condition: () => boolean | void | Promise<boolean | void>,
  { timeoutMs = 5_000, intervalMs = 5 }: WaitOptions = {},
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastFailure: unknown;
  for (;;) {
    try {
      const result = await condition();
      if (result !== false) return;
      lastFailure = undefined;
    } catch (error) {
      lastFailure = error;
    }
    if (Date.now() >= deadline) {
      const detail = lastFailure instanceof Error ? `: ${lastFailure.message}` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${description}${detail}`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** A promise with its resolve exposed, for handlers a test releases on purpose. */
export function gate(): { readonly promise: Promise<void>; open(): void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}
