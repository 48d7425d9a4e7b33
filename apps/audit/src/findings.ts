// What a command found: violations (each names its place: stream, revision, global position)
// and notes (what was skipped and why), plus progress lines on stderr for long runs.

import { printable, withCardNumbersWithheld } from './card-number-filter';

/** Which check a violation comes from. */
export type CheckName = 'position' | 'chain' | 'stream-head' | 'ledger' | 'global-sum' | 'transfer' | 'card' | 'projection' | 'snapshot' | 'checkpoint' | 'statement' | 'schema';

export interface Violation {
  readonly check: CheckName;
  readonly streamId?: string;
  readonly revision?: bigint;
  readonly position?: bigint;
  readonly message: string;
}

/** Violations kept for the report; beyond it they are counted, not kept (a wrecked store must not exhaust memory). */
export const VIOLATIONS_KEPT_MAX = 10_000;

export class Findings {
  readonly violations: Violation[] = [];
  readonly notes: string[] = [];
  private violationCount = 0;

  violation(violation: Violation): void {
    this.violationCount++;
    // A stream id can hold caller text (`card-auth-{authorization id}`): printed through the card-number filter.
    const streamId = violation.streamId === undefined ? undefined : printable(violation.streamId);
    if (this.violations.length < VIOLATIONS_KEPT_MAX) this.violations.push(streamId === violation.streamId ? violation : { ...violation, streamId });
  }

  /** Adds violations found elsewhere (a worker's), `count` of them in all of which `kept` were kept there. */
  absorb(kept: readonly Violation[], count: number): void {
    for (const violation of kept) this.violation(violation);
    this.violationCount += count - kept.length;
  }

  note(note: string): void {
    this.notes.push(note);
  }

  get count(): number {
    return this.violationCount;
  }

  get clean(): boolean {
    return this.violationCount === 0;
  }

  /** `--json` shape: bigints as digit strings. */
  toJson(): { ok: boolean; violationCount: number; violations: unknown[]; notes: string[] } {
    return {
      ok: this.clean,
      violationCount: this.violationCount,
      violations: this.violations.map((violation) => ({
        check: violation.check,
        streamId: violation.streamId ?? null,
        revision: violation.revision?.toString() ?? null,
        position: violation.position?.toString() ?? null,
        message: violation.message,
      })),
      notes: this.notes,
    };
  }

  toText(): string {
    const lines = this.violations.map(formatViolation);
    if (this.violationCount > this.violations.length) lines.push(`... and ${this.violationCount - this.violations.length} more violations`);
    for (const note of this.notes) lines.push(`note: ${note}`);
    return lines.join('\n');
  }
}

export function formatViolation(violation: Violation): string {
  const place = [
    `stream=${violation.streamId ?? '-'}`,
    `revision=${violation.revision?.toString() ?? '-'}`,
    `position=${violation.position?.toString() ?? '-'}`,
  ].join(' ');
  return `VIOLATION [${violation.check}] ${place}: ${violation.message}`;
}

/** How often a long run reports on stderr; nothing is printed for runs shorter than this. */
export const PROGRESS_INTERVAL_MS = 1_000;

export class Progress {
  private readonly startedMs: number;
  private lastMs: number;

  constructor(
    private readonly write: (line: string) => void = (line) => process.stderr.write(`${line}\n`),
    private readonly nowMs: () => number = Date.now,
  ) {
    this.startedMs = nowMs();
    this.lastMs = this.startedMs;
  }

  /** Prints `message()` if a second has passed since the start or the last line. */
  tick(message: () => string): void {
    const now = this.nowMs();
    if (now - this.lastMs < PROGRESS_INTERVAL_MS) return;
    this.lastMs = now;
    // Lines name streams (card-auth-{authorization id}: caller text): no card number leaves through them either.
    this.write(`[${((now - this.startedMs) / 1000).toFixed(1)} s] ${withCardNumbersWithheld(message())}`);
  }
}
