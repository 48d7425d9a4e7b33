// TOTP (RFC 6238 with the authenticator apps' defaults: SHA-1, 6 digits, 30 s) through otplib's
// own packages (@otplib/totp, /core, /uri, which `otplib` re-exports), with node:crypto for the
// HMAC and a plain RFC 4648 base32. Why not the `otplib` entry point: it loads its default
// plugins, which need ES-module-only packages (@scure/base, @noble/hashes) that this repo's Jest
// does not transform; the algorithm is otplib's either way.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { createBase32Plugin, createCryptoPlugin, generateSecret } from '@otplib/core';
import { generateSync, verifySync } from '@otplib/totp';
import { generateTOTP } from '@otplib/uri';
import { TOTP_CODE_PATTERN } from '../domain/limits';
import type { TotpCheck } from '../domain/user.commands';

export const TOTP_PERIOD_SECONDS = 30;
/** 160-bit secrets, RFC 4226's recommendation. */
export const TOTP_SECRET_BYTES = 20;

const BASE32_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** RFC 4648 base32 without padding (what authenticator apps show and scan). */
export function base32Encode(bytes: Uint8Array): string {
  let out = '';
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += BASE32_ALPHABET[(buffer >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += BASE32_ALPHABET[(buffer << (5 - bits)) & 31];
  return out;
}

/** Accepts lower case, spaces and `=` padding, as people type secrets; throws on other characters. */
export function base32Decode(text: string): Uint8Array {
  const clean = text.replace(/[\s=]/g, '').toUpperCase();
  const out: number[] = [];
  let buffer = 0;
  let bits = 0;
  for (const char of clean) {
    const value = BASE32_ALPHABET.indexOf(char);
    if (value < 0) throw new RangeError('not a base32 string');
    buffer = ((buffer << 5) | value) & 0xffff;
    bits += 5;
    if (bits >= 8) {
      out.push((buffer >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Uint8Array.from(out);
}

/** The plugins every otplib call here gets: node:crypto and the base32 above. */
export const OTP_PLUGINS = {
  crypto: createCryptoPlugin({
    name: 'node-crypto',
    hmac: (algorithm, key, data) => new Uint8Array(createHmac(algorithm, key).update(data).digest()),
    randomBytes: (length) => new Uint8Array(randomBytes(length)),
    constantTimeEqual: (a, b) => {
      const left = Buffer.from(a);
      const right = Buffer.from(b);
      return left.length === right.length && timingSafeEqual(left, right);
    },
  }),
  base32: createBase32Plugin({ name: 'rfc4648', encode: base32Encode, decode: base32Decode }),
};

export class TotpCodes {
  constructor(
    private readonly issuer: string,
    /** Time steps accepted either side of now. */
    private readonly driftSteps: number,
  ) {}

  newSecret(): string {
    return generateSecret({ ...OTP_PLUGINS, length: TOTP_SECRET_BYTES });
  }

  otpauthUrl(secret: string, accountName: string): string {
    return generateTOTP({ issuer: this.issuer, label: accountName, secret });
  }

  /** Which time step `code` matches around `nowMs`; the domain decides whether that step is still unused. */
  check(secret: string, code: unknown, nowMs: number): TotpCheck {
    if (code === undefined) return { provided: false };
    if (typeof code !== 'string' || !TOTP_CODE_PATTERN.test(code)) return { provided: true, timeStep: null };
    const result = verifySync({
      ...OTP_PLUGINS,
      secret,
      token: code,
      epoch: Math.floor(nowMs / 1000),
      epochTolerance: this.driftSteps * TOTP_PERIOD_SECONDS,
    });
    return { provided: true, timeStep: result.valid ? result.timeStep : null };
  }
}

/** The code an authenticator app shows at `nowMs` (tests and tools play the user's phone with it). */
export function totpCodeAt(secret: string, nowMs: number): string {
  return generateSync({ ...OTP_PLUGINS, secret, epoch: Math.floor(nowMs / 1000) });
}
