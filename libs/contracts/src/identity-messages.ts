// The identity service's wire contract on `identity.commands` (request/reply). Secrets
// (passwords, TOTP codes, refresh tokens) travel only inside these requests, never in events
// or logs; replies carry tokens only to the caller that logged in.
import type { CommandMeta, Reply } from './ledger-messages';

export const IDENTITY_TOPICS = {
  commands: 'identity.commands',
  events: 'identity.events',
} as const;

export type Role = 'user' | 'admin';

/** API.md: a password is 10 to 128 characters, counted by `passwordLength`, at the edge and in identity alike. */
export const PASSWORD_LENGTH_MIN = 10;
export const PASSWORD_LENGTH_MAX = 128;

/**
 * The form a password is counted, compared and hashed in: NFC (RFC 8265's OpaqueString), so one
 * password typed composed (most keyboards) or decomposed (macOS sends 'é' as 'e' + U+0301) is one.
 */
export function passwordForm(password: string): string {
  return password.normalize('NFC');
}

/** A password's characters: code points of its NFC form. */
export function passwordLength(password: string): number {
  return [...passwordForm(password)].length;
}

/** API.md's user as `POST /v1/users` returns it. */
export interface UserView {
  readonly id: string;
  readonly email: string;
  readonly displayName: string | null;
  readonly createdAt: string;
}

/** API.md's `GET /v1/me`. */
export interface MeView {
  readonly id: string;
  readonly email: string;
  readonly displayName: string | null;
  readonly roles: Role[];
  readonly mfaEnabled: boolean;
}

/** API.md's login and refresh reply. */
export interface TokenPair {
  readonly accessToken: string;
  readonly refreshToken: string;
  readonly tokenType: 'Bearer';
  /** Seconds until the access token expires. */
  readonly expiresIn: number;
}

/** What the gateway learns from a valid access token (verified locally with identity's public key). */
export interface AccessClaims {
  /** The user id. */
  readonly sub: string;
  readonly roles: Role[];
  /** The login (refresh-token family) the token belongs to. */
  readonly sid: string;
}

/** The public keys that verify access tokens (a JWKS), for the gateway. */
export interface PublicKeys {
  readonly keys: Record<string, unknown>[];
  /** The JWT `iss` and `aud` the gateway must check. */
  readonly issuer: string;
  readonly audience: string;
}

export type IdentityCommandMessage =
  | { readonly type: 'RegisterUser'; readonly email: string; readonly password: string; readonly displayName?: string }
  | { readonly type: 'Login'; readonly email: string; readonly password: string; readonly totp?: string; readonly ip?: string }
  | { readonly type: 'Refresh'; readonly refreshToken: string }
  | { readonly type: 'Logout'; readonly refreshToken: string }
  | { readonly type: 'GetMe'; readonly userId: string }
  | { readonly type: 'StartTotpEnrolment'; readonly userId: string }
  | { readonly type: 'ConfirmTotpEnrolment'; readonly userId: string; readonly code: string }
  /** Step-up for sensitive actions (card reveal): a password or a TOTP code of the user. */
  | { readonly type: 'VerifyStepUp'; readonly userId: string; readonly password?: string; readonly totp?: string }
  | { readonly type: 'GetPublicKeys' }
  /** Is this login (refresh family) still alive? Logout and reuse detection revoke it. */
  | { readonly type: 'CheckSession'; readonly userId: string; readonly sessionId: string };

export type IdentityCommandEnvelope = IdentityCommandMessage & { readonly meta: CommandMeta };

export type IdentityReply<T> = Reply<T>;
