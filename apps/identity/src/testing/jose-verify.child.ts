// Verifies an access token the way the gateway will, with jose (`jwtVerify` against a local
// JWKS), in a plain Node process: jose is ES-module only, which Node loads and Jest does not.
// argv: token, PublicKeys JSON, now (ms). Prints the verified claims or the error as JSON.
import { createLocalJWKSet, jwtVerify } from 'jose';

async function main(): Promise<void> {
  const [token, publicKeysJson, nowMs] = process.argv.slice(2);
  const publicKeys = JSON.parse(publicKeysJson) as { keys: Record<string, unknown>[]; issuer: string; audience: string };
  try {
    const { payload, protectedHeader } = await jwtVerify(token, createLocalJWKSet({ keys: publicKeys.keys }), {
      issuer: publicKeys.issuer,
      audience: publicKeys.audience,
      algorithms: ['EdDSA', 'Ed25519'],
      currentDate: new Date(Number(nowMs)),
    });
    process.stdout.write(JSON.stringify({ ok: true, payload, protectedHeader }));
  } catch (error) {
    process.stdout.write(JSON.stringify({ ok: false, code: (error as { code?: string }).code ?? String(error) }));
  }
}

void main();
