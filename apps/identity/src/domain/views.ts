// The replies API.md shows for a user, read from the aggregate's state.
import { toIsoTime, type MeView, type UserView } from '@ledger/contracts';
import type { RegisteredUser } from './user';

export function userView(state: RegisteredUser): UserView {
  return { id: state.userId, email: state.email, displayName: state.displayName, createdAt: toIsoTime(state.createdAtMs) };
}

export function meView(state: RegisteredUser): MeView {
  return { id: state.userId, email: state.email, displayName: state.displayName, roles: [...state.roles], mfaEnabled: state.totp.enabled };
}
