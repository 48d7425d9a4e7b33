// Property: for random sequences of logins and step-ups (right, wrong or no credential, at random
// times, some of them retries of an earlier attempt), the decider locks exactly per the rule:
// IDENTITY_LOCKOUT_FAILURES consecutive failures lock for IDENTITY_LOCKOUT_MS; while locked every
// attempt is `account_locked`, the right password included; a success resets the count; a lock
// resets it too; a retried attempt is never counted again.
import fc from 'fast-check';
import type { DomainError } from '@ledger/contracts';
import { evolve, foldUser, type UserEvent, type UserState } from './user';
import { decide, replyErrorOf, type UserCommand, type UserContext } from './user.commands';
import { login, NOW_MS, registered, stepUp } from './testing/user.fixtures';

const RUNS = 1_000;
const LOCKOUT_FAILURES = 5;
const LOCKOUT_MS = 15 * 60_000;

type Step =
  | { readonly kind: 'login'; readonly credential: 'right' | 'wrong'; readonly dtMs: number }
  | { readonly kind: 'stepUp'; readonly credential: 'right' | 'wrong' | 'none'; readonly dtMs: number }
  | { readonly kind: 'retry'; readonly back: number; readonly dtMs: number };

const dtMs = fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 60_000 }), fc.integer({ min: LOCKOUT_MS - 60_000, max: LOCKOUT_MS + 60_000 }));
const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('login' as const), credential: fc.constantFrom('right' as const, 'wrong' as const, 'wrong' as const), dtMs }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('stepUp' as const), credential: fc.constantFrom('right' as const, 'wrong' as const, 'none' as const), dtMs }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('retry' as const), back: fc.integer({ min: 1, max: 5 }), dtMs }) },
);

interface Model {
  failures: number;
  lockedUntilMs: number | null;
}

it(`locks exactly per the rule over ${RUNS} random sequences`, () => {
  fc.assert(
    fc.property(fc.array(step, { minLength: 1, maxLength: 60 }), (steps) => {
      let state: UserState = foldUser([registered(NOW_MS - 1)]);
      let nowMs = NOW_MS;
      const model: Model = { failures: 0, lockedUntilMs: null };
      const sent: UserCommand[] = [];
      /** Attempt keys whose first outcome was recorded (an event): a retry of one is answered, not counted. */
      const recorded = new Set<string>();

      steps.forEach((s, index) => {
        nowMs += s.dtMs;
        const context: UserContext = { nowMs, lockoutFailures: LOCKOUT_FAILURES, lockoutMs: LOCKOUT_MS, sessionTtlMs: 24 * 3_600_000, sessionsMax: 1_000_000 };
        const key = `attempt-${index}`;
        const isRetry = s.kind === 'retry' && sent.length > 0;
        // A retry is the same request again; the application mints a fresh session id for every try.
        const command: UserCommand = isRetry
          ? withFreshSession(sent[Math.max(0, sent.length - s.back)], key)
          : s.kind === 'stepUp'
            ? stepUp(key, s.credential === 'none' ? null : s.credential === 'right')
            : login(key, s.kind === 'login' ? s.credential === 'right' : true);
        if (!isRetry) sent.push(command);

        const failuresBefore = model.failures;
        const result = decide(command, state, context);
        const events: UserEvent[] = result.ok ? result.events : [];
        const error: DomainError | undefined = result.ok ? replyErrorOf(events) : result.error;
        state = events.reduce(evolve, state);

        const attemptKey = (command as { attemptKey: string }).attemptKey;
        if (isRetry && recorded.has(attemptKey)) {
          // A retry of a recorded attempt is answered, never counted: no failure and no lock come of it.
          expect(events.some((event) => event.type === 'identity.LoginFailed.v1' || event.type === 'identity.StepUpFailed.v1')).toBe(false);
          expect(events.some((event) => event.type === 'identity.UserLocked.v1')).toBe(false);
          if (events.some((event) => event.type === 'identity.LoginSucceeded.v1')) model.lockedUntilMs = null;
          if (events.some((event) => event.type === 'identity.LoginSucceeded.v1' || event.type === 'identity.StepUpSucceeded.v1')) model.failures = 0;
        } else {
          // A first attempt, or a retry of one refused without a trace (locked, no credential): the rule applies.
          expectPerTheRule(command, model, nowMs, events, error);
        }
        if (events.length > 0) recorded.add(attemptKey);
        expect(state.status === 'registered' && state.failures).toBe(model.failures);
        expect(model.failures).toBeLessThan(LOCKOUT_FAILURES);
        // The limit is reached only by a failure, and that failure always locks.
        if (events.some((event) => event.type === 'identity.UserLocked.v1')) expect(failuresBefore).toBe(LOCKOUT_FAILURES - 1);
      });
    }),
    { numRuns: RUNS },
  );
});

function withFreshSession(command: UserCommand, key: string): UserCommand {
  return command.type === 'Login' ? { ...command, sessionId: `session-${key}` } : command;
}

function expectPerTheRule(command: UserCommand, model: Model, nowMs: number, events: UserEvent[], error: DomainError | undefined): void {
  const types = events.map((event) => event.type);
  if (model.lockedUntilMs !== null && nowMs < model.lockedUntilMs) {
    expect(error?.code).toBe('account_locked');
    expect(events).toEqual([]);
    return;
  }
  const right = command.type === 'Login' ? command.passwordValid : command.type === 'VerifyStepUp' ? command.passwordValid : null;
  if (command.type === 'VerifyStepUp' && right === null) {
    expect(error?.code).toBe('step_up_required');
    expect(events).toEqual([]);
    return;
  }
  if (right) {
    expect(error).toBeUndefined();
    expect(types).toEqual(command.type === 'Login' ? ['identity.LoginSucceeded.v1', 'identity.RefreshTokenIssued.v1'] : ['identity.StepUpSucceeded.v1']);
    model.failures = 0;
    if (command.type === 'Login') model.lockedUntilMs = null;
    return;
  }
  const failed = command.type === 'Login' ? 'identity.LoginFailed.v1' : 'identity.StepUpFailed.v1';
  const failures = model.failures + 1;
  expect(events[0]).toMatchObject({ type: failed, data: { failures } });
  if (failures >= LOCKOUT_FAILURES) {
    expect(types).toEqual([failed, 'identity.UserLocked.v1']);
    expect(events[1]).toMatchObject({ data: { lockedUntilMs: nowMs + LOCKOUT_MS } });
    expect(error?.code).toBe('account_locked');
    model.failures = 0;
    model.lockedUntilMs = nowMs + LOCKOUT_MS;
  } else {
    expect(types).toEqual([failed]);
    expect(error?.code).toBe(command.type === 'Login' ? 'invalid_credentials' : 'step_up_required');
    model.failures = failures;
  }
}
