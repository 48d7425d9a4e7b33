// The email reservation aggregate: one stream per email (`user-email-{sha256(lowercased email)}`),
// appended with "no stream" expected BEFORE the user's own stream, so the event store itself
// makes emails unique: of two registrations racing for one email, exactly one append succeeds.
// A reservation names its user, so a registration that crashed between the two appends is
// completed by its retry (same idempotency key, same user id) instead of finding the email taken.
import { domainError, type DomainError } from '@ledger/contracts';
import { isValidId } from './limits';

export interface EmailReserved {
  readonly type: 'identity.EmailReserved.v1';
  readonly data: { readonly userId: string; readonly atMs: number };
}

export type EmailReservationEvent = EmailReserved;

export type EmailReservationState = { readonly status: 'free' } | { readonly status: 'reserved'; readonly userId: string };

export interface ReserveEmail {
  readonly type: 'ReserveEmail';
  readonly userId: string;
}

export interface ReservationContext {
  readonly nowMs: number;
}

export function initialReservation(): EmailReservationState {
  return { status: 'free' };
}

export function evolveReservation(state: EmailReservationState, event: EmailReservationEvent): EmailReservationState {
  if (state.status !== 'free') throw new Error('invariant: an email is reserved once');
  return { status: 'reserved', userId: event.data.userId };
}

export function decideReservation(
  command: ReserveEmail,
  state: EmailReservationState,
  context: ReservationContext,
): { ok: true; events: EmailReservationEvent[] } | { ok: false; error: DomainError } {
  if (!isValidId(command.userId)) throw new RangeError('ReserveEmail needs a user id');
  if (state.status === 'reserved') {
    // Ours already: a retry completing its registration.
    if (state.userId === command.userId) return { ok: true, events: [] };
    return { ok: false, error: domainError('email_taken', 'this email is already registered') };
  }
  return { ok: true, events: [{ type: 'identity.EmailReserved.v1', data: { userId: command.userId, atMs: context.nowMs } }] };
}

export const emailReservation = { initialState: initialReservation, evolve: evolveReservation, decide: decideReservation };
