// What every service checks first on a command from the bus: its meta (idempotency key, actor,
// correlation id), and how it lists bad fields (API.md's `validation_failed` with details.fields).
import { domainError, type DomainError } from './errors';
import type { CommandMeta } from './ledger-messages';

/** Idempotency keys (and the ids services derive from them). */
export const IDEMPOTENCY_KEY_LENGTH_MAX = 128;
/** Actor and correlation id are cut to this many characters before they reach event metadata. */
export const META_FIELD_LENGTH_MAX = 256;

export interface FieldProblem {
  readonly field: string;
  readonly reason: string;
}

/** API.md's `validation_failed`: details list every field that is wrong, with a machine-readable reason. */
export function invalidFields(problems: readonly FieldProblem[], message?: string): DomainError {
  const text = message ?? problems.map((problem) => `${problem.field}: ${problem.reason}`).join('; ');
  return domainError('validation_failed', text, { fields: problems.map((problem) => ({ ...problem })) });
}

/** The command's meta, checked: an idempotency key is required; actor and correlation id are optional and bounded. */
export function commandMetaOf(message: unknown, service: string): CommandMeta | DomainError {
  const meta = (message as { meta?: unknown } | null)?.meta as Partial<CommandMeta> | undefined;
  const key = meta?.idempotencyKey;
  if (typeof key !== 'string' || key.length === 0 || key.length > IDEMPOTENCY_KEY_LENGTH_MAX) {
    return domainError('idempotency_key_required', `every ${service} command carries an idempotency key`, { idempotencyKeyLengthMax: IDEMPOTENCY_KEY_LENGTH_MAX });
  }
  const actor = typeof meta?.actor === 'string' && meta.actor.length > 0 ? meta.actor.slice(0, META_FIELD_LENGTH_MAX) : 'anonymous';
  const correlationId = typeof meta?.correlationId === 'string' && meta.correlationId.length > 0 ? meta.correlationId.slice(0, META_FIELD_LENGTH_MAX) : undefined;
  return correlationId === undefined ? { idempotencyKey: key, actor } : { idempotencyKey: key, actor, correlationId };
}
