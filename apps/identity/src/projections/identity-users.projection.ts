// The identity read model: one row per user (id, email and its hash, roles, MFA, lock, last
// login), projected from the `user-{id}` streams. Every column is a function of the events
// alone, so a rebuild from position 0 equals the incrementally built table.
//
// Logins do not read it: they find the user through the email reservation stream, which the
// store keeps consistent at once (no projection lag between registering and logging in). It
// serves listings and look-ups that may lag (admin tools, the audit CLI's comparison).
import { createHash } from 'node:crypto';
import type Database from 'better-sqlite3';
import { toIsoTime, type RecordedEvent, type Role } from '@ledger/contracts';
import { perDatabase, type Projection } from '@ledger/event-store';
import { emailKey } from '../domain/credentials-policy';
import { USER_STREAM_PREFIX, isEmailReservationStream, userEventOf } from '../application/user-repository';

export const IDENTITY_USERS_PROJECTION_NAME = 'identity-users';

export const IDENTITY_USERS_SCHEMA = `
  CREATE TABLE IF NOT EXISTS identity_users (
    user_id         TEXT    PRIMARY KEY,
    email           TEXT    NOT NULL,
    email_hash      TEXT    NOT NULL UNIQUE,
    display_name    TEXT,
    roles           TEXT    NOT NULL,
    mfa_enabled     INTEGER NOT NULL,
    locked_until    TEXT,
    last_login_at   TEXT,
    created_at      TEXT    NOT NULL,
    updated_position INTEGER NOT NULL
  ) WITHOUT ROWID;
`;

export interface IdentityUserRow {
  readonly user_id: string;
  readonly email: string;
  readonly email_hash: string;
  readonly display_name: string | null;
  /** JSON array, sorted. */
  readonly roles: string;
  readonly mfa_enabled: number;
  readonly locked_until: string | null;
  readonly last_login_at: string | null;
  readonly created_at: string;
}

export interface IdentityUserView {
  readonly id: string;
  readonly email: string;
  readonly displayName: string | null;
  readonly roles: Role[];
  readonly mfaEnabled: boolean;
  readonly lockedUntil: string | null;
  readonly lastLoginAt: string | null;
  readonly createdAt: string;
}

/** The same hash the reservation stream is named by. */
export function emailHash(email: string): string {
  return createHash('sha256').update(emailKey(email)).digest('hex');
}

const statements = perDatabase((db: Database.Database) => ({
  insert: db.prepare(
    `INSERT INTO identity_users (user_id, email, email_hash, display_name, roles, mfa_enabled, locked_until, last_login_at, created_at, updated_position)
     VALUES (?, ?, ?, ?, ?, 0, NULL, NULL, ?, ?)`,
  ),
  roles: db.prepare<[string], { roles: string }>('SELECT roles FROM identity_users WHERE user_id = ?'),
  setRoles: db.prepare<[string, bigint, string]>('UPDATE identity_users SET roles = ?, updated_position = ? WHERE user_id = ?'),
  setMfa: db.prepare<[bigint, string]>('UPDATE identity_users SET mfa_enabled = 1, updated_position = ? WHERE user_id = ?'),
  setLock: db.prepare<[string, bigint, string]>('UPDATE identity_users SET locked_until = ?, updated_position = ? WHERE user_id = ?'),
  setLogin: db.prepare<[string, bigint, string]>('UPDATE identity_users SET last_login_at = ?, locked_until = NULL, updated_position = ? WHERE user_id = ?'),
  byId: db.prepare<[string], IdentityUserRow>('SELECT * FROM identity_users WHERE user_id = ?'),
  byEmailHash: db.prepare<[string], IdentityUserRow>('SELECT * FROM identity_users WHERE email_hash = ?'),
}));

export const identityUsersProjection: Projection = {
  name: IDENTITY_USERS_PROJECTION_NAME,
  streamPrefixes: [USER_STREAM_PREFIX],
  setup(db) {
    db.exec(IDENTITY_USERS_SCHEMA);
  },
  apply(db, recorded: RecordedEvent) {
    if (isEmailReservationStream(recorded.streamId)) return;
    const userId = recorded.streamId.slice(USER_STREAM_PREFIX.length);
    const event = userEventOf(recorded.type, recorded.data);
    const sql = statements(db);
    const position = recorded.position;
    switch (event.type) {
      case 'identity.UserRegistered.v1': {
        const { data } = event;
        sql.insert.run(data.userId, data.email, emailHash(data.email), data.displayName, JSON.stringify([...data.roles].sort()), toIsoTime(data.atMs), position);
        return;
      }
      case 'identity.RoleGranted.v1': {
        const row = sql.roles.get(userId);
        if (row === undefined) throw new Error(`projection ${IDENTITY_USERS_PROJECTION_NAME}: a role for unknown user ${userId}`);
        const roles = [...new Set([...(JSON.parse(row.roles) as string[]), event.data.role])].sort();
        sql.setRoles.run(JSON.stringify(roles), position, userId);
        return;
      }
      case 'identity.TotpEnabled.v1':
        sql.setMfa.run(position, userId);
        return;
      case 'identity.UserLocked.v1':
        sql.setLock.run(toIsoTime(event.data.lockedUntilMs), position, userId);
        return;
      case 'identity.LoginSucceeded.v1':
        sql.setLogin.run(toIsoTime(event.data.atMs), position, userId);
        return;
      default:
        return; // sessions, failures and enrolments do not show in this view
    }
  },
};

export function findUserById(db: Database.Database, userId: string): IdentityUserView | undefined {
  const row = statements(db).byId.get(userId);
  return row === undefined ? undefined : viewOf(row);
}

export function findUserByEmail(db: Database.Database, email: string): IdentityUserView | undefined {
  const row = statements(db).byEmailHash.get(emailHash(email));
  return row === undefined ? undefined : viewOf(row);
}

function viewOf(row: IdentityUserRow): IdentityUserView {
  return {
    id: row.user_id,
    email: row.email,
    displayName: row.display_name,
    roles: JSON.parse(row.roles) as Role[],
    mfaEnabled: row.mfa_enabled === 1,
    lockedUntil: row.locked_until,
    lastLoginAt: row.last_login_at,
    createdAt: row.created_at,
  };
}
