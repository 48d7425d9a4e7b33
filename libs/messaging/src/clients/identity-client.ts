// How any service (the gateway, the card-issuer) talks to identity: request/reply on `identity.commands`, keyed by the user
// (or the email being registered or logged in), as LedgerClient does for the ledger.
import { createHash } from 'node:crypto';
import { firstValueFrom } from 'rxjs';
import { IDENTITY_TOPICS, type IdentityCommandEnvelope, type Reply } from '@ledger/contracts';
import { keyed } from '../nest/bus-protocol';
import type { RequestSender } from './ledger-client';

export class IdentityClient {
  constructor(private readonly client: RequestSender) {}

  command<T = unknown>(message: IdentityCommandEnvelope): Promise<Reply<T>> {
    return firstValueFrom(this.client.send<Reply<T>>(IDENTITY_TOPICS.commands, keyed(identityKeyOf(message), message)));
  }
}

/** The message key: one user's commands share a partition. A refresh token is a secret, so only its hash may key. */
export function identityKeyOf(message: IdentityCommandEnvelope): string {
  switch (message.type) {
    case 'RegisterUser':
    case 'Login':
      return `email:${String(message.email).trim().toLowerCase()}`;
    case 'Refresh':
    case 'Logout':
      return `refresh:${createHash('sha256').update(String(message.refreshToken)).digest('hex')}`;
    case 'GetPublicKeys':
      return 'public-keys';
    default:
      return `user:${message.userId}`;
  }
}
