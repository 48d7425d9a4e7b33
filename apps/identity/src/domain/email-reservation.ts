// The email reservation aggregate: one stream per email (`user-email-{sha256(lowercased email)}`),
// appended (expecting its revision) BEFORE the user's own stream, so the event store itself
// makes emails unique: of two registrations racing for one email, exactly one append succeeds.
// A reservation names its user, so a registration that failed between the two appends is
// completed by its retry (same idempotency key, same user id) instead of finding the email taken.
// A reservation its user never registered under goes to the next registration: at once when that
// user registered another email (the retry corrected it), after RESERVATION_HELD_MS when not at all.
import { domainError, type DomainError } from '@ledger/contracts';
import { isValidId, RESERVATION_HELD_MS } from './limits';

export interface EmailReserved {
  readonly type: 'identity.EmailReserved.v1';
  readonly data: { readonly userId: string; readonly atMs: number };
}

export type EmailReservationEvent = EmailReserved;

export type EmailReservationState = { readonly status: 'free' } | { readonly status: 'reserved'; readonly userId: string; readonly atMs: number };

/** What became of the reserving user: registered with this email, with another one, or not (yet). */
export type ReservationHolder = 'this_email' | 'other_email' | 'unregistered';

export interface ReserveEmail {
  readonly type: 'ReserveEmail';
  readonly userId: string;
}

export interface ReservationContext {
  readonly nowMs: number;
  /** The reserving user's registration; only looked at when another user holds the reservation. */
  readonly holder: ReservationHolder;
}

export function initialReservation(): EmailReservationState {
  return { status: 'free' };
}

/** The latest reservation holds the email: one the next registration took over is replaced. */
export function evolveReservation(_state: EmailReservationState, event: EmailReservationEvent): EmailReservationState {
  return { status: 'reserved', userId: event.data.userId, atMs: event.data.atMs };
}

/** Whether a reservation another user holds still keeps the email from a new registration. */
export function reservationHolds(state: EmailReservationState, holder: ReservationHolder, nowMs: number): boolean {
  if (state.status !== 'reserved') return false;
  if (holder === 'this_email') return true;
  return holder === 'unregistered' && nowMs - state.atMs < RESERVATION_HELD_MS;
}

export function decideReservation(
  command: ReserveEmail,
  state: EmailReservationState,
  context: ReservationContext,
): { ok: true; events: EmailReservationEvent[] } | { ok: false; error: DomainError } {
  if (!isValidId(command.userId)) throw new RangeError('ReserveEmail needs a user id');
  if (state.status === 'reserved') {
    // Ours already: a retry completing its registration renews it. A takeover read the same
    // revision, so of the two appends one fails, and none takes it before this user is registered.
    if (state.userId !== command.userId && reservationHolds(state, context.holder, context.nowMs)) {
      return { ok: false, error: domainError('email_taken', 'this email is already registered') };
    }
  }
  return { ok: true, events: [{ type: 'identity.EmailReserved.v1', data: { userId: command.userId, atMs: context.nowMs } }] };
}

export const emailReservation = { initialState: initialReservation, evolve: evolveReservation, decide: decideReservation };
