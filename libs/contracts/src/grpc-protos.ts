// Where the gRPC API's .proto files are (libs/contracts/proto), from source or from dist/, and
// which files make package ledger.v1.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';

export const GRPC_PACKAGE = 'ledger.v1';

/** The services of package ledger.v1, as reflection lists them. */
export const GRPC_SERVICES = ['Identity', 'Wallets', 'Cards', 'CardNetwork', 'Admin'] as const;

/** Relative to protoRoot(), as imports name them. */
export const GRPC_PROTO_FILES = [
  'ledger/v1/common.proto',
  'ledger/v1/identity.proto',
  'ledger/v1/wallets.proto',
  'ledger/v1/cards.proto',
  'ledger/v1/card_network.proto',
  'ledger/v1/admin.proto',
] as const;

/** The include directory of the protos: next to src/ when run from source, the repo's libs/ when run from dist/ (tsc copies no .proto). */
export function protoRoot(): string {
  const candidates = [resolve(__dirname, '../proto'), resolve(__dirname, '../../../../libs/contracts/proto')];
  const found = candidates.find((dir) => existsSync(resolve(dir, GRPC_PROTO_FILES[0])));
  if (found === undefined) throw new Error(`the gRPC protos are not in ${candidates.join(' or ')}`);
  return found;
}
