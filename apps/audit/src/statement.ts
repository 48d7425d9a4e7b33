// `statement` and `verify-statement`: a wallet's statement for [from, to) by commit time
// (opening posted balance, one line per journal posting on the wallet, closing balance) with a
// Merkle root over its entries and, per line, an inclusion proof (./merkle.ts). Each entry names
// the store event it comes from (stream, revision, position, event id, chain hash), so a
// statement is checked offline against the store: proofs, root, each event in an intact chain,
// each line what its event says, and the whole statement what the store gives today.
import { canonicalJson, formatAmount, GENESIS_HASH, type RecordedEvent } from '@ledger/contracts';
import { verifyChain } from '@ledger/event-store';
import { postedBalance } from '@ledger/ledger';
import { filterReferences, printable } from './card-number-filter';
import { Findings } from './findings';
import { groupBy } from './group-by';
import { isStoreTime } from './iso-time';
import { journalPostings, type JournalPosting } from './journal';
import { leafHash, MerkleTree, verifyInclusion } from './merkle';
import { foldShard, shardOfAccount, storedJournalPostings } from './shard-fold';
import { pagesOfStream, type StoreReader } from './store-reader.port';

export const STATEMENT_FORMAT = 'ledger-audit.statement.v1';
/** Lines one statement may hold (it is built and proven in memory): ask for a shorter period beyond it. */
export const STATEMENT_LINES_MAX = 100_000;

/** One line, exactly as hashed into its leaf: `leaf = sha256(0x00 || canonicalJson(entry))`. */
export interface StatementEntry {
  readonly streamId: string;
  readonly revision: string;
  readonly position: string;
  readonly eventId: string;
  /** The event's hash in its stream's chain (metadata.hash). */
  readonly eventHash: string;
  readonly recordedAt: string;
  readonly entryId: string;
  readonly kind: string;
  readonly postingIndex: number;
  readonly side: 'debit' | 'credit';
  readonly amount: string;
  readonly currency: string;
  /** The wallet's posted balance after the event. */
  readonly balanceAfter: string;
  readonly references: Readonly<Record<string, string>>;
}

export interface Statement {
  readonly format: typeof STATEMENT_FORMAT;
  readonly walletId: string;
  readonly currency: string;
  readonly from: string;
  readonly to: string;
  readonly opening: { readonly posted: string; readonly asOfPosition: string };
  readonly closing: { readonly posted: string; readonly asOfPosition: string };
  readonly merkle: {
    readonly tree: 'RFC 6962, sha256';
    readonly leaf: 'sha256(0x00 || utf8(canonicalJson(entry)))';
    readonly node: 'sha256(0x01 || left || right)';
    readonly leafCount: number;
    readonly root: string;
  };
  readonly lines: readonly { readonly leafIndex: number; readonly entry: StatementEntry; readonly proof: readonly string[] }[];
}

export class StatementTooLongError extends Error {}

/** The wallet's shard stream is not sealed up to the period's end: no statement is issued over it (run verify). */
export class UnsealedPeriodError extends Error {
  readonly streamId: string;
  readonly revision: bigint;
  readonly position: bigint;

  constructor(event: RecordedEvent) {
    super(`the chain of ${event.streamId} is broken at revision ${event.revision}, within the period the statement covers`);
    this.name = 'UnsealedPeriodError';
    this.streamId = event.streamId;
    this.revision = event.revision;
    this.position = event.position;
  }
}

/** The statement `statement` prints: only over a sealed stream, since verify-statement refuses any other (UnsealedPeriodError). */
export async function issueStatement(reader: StoreReader, walletId: string, from: string, to: string): Promise<Statement | undefined> {
  const statement = await buildStatement(reader, walletId, from, to);
  const shard = statement === undefined ? undefined : await shardOfAccount(reader, walletId);
  const broken = shard === undefined ? undefined : await chainBreakBefore(reader, `ledger-${shard}`, to);
  if (broken !== undefined) throw new UnsealedPeriodError(broken);
  return statement;
}

export async function buildStatement(reader: StoreReader, walletId: string, from: string, to: string): Promise<Statement | undefined> {
  const shard = await shardOfAccount(reader, walletId);
  if (shard === undefined) return undefined;
  const entries: StatementEntry[] = [];
  let opening = 0n;
  let openingPosition = 0n;
  const { state, last } = await foldShard(reader, shard, {
    stopBefore: (event) => event.recordedAt >= to,
    applied: (event, ledgerEvent, folded) => {
      const wallet = folded.accounts.get(walletId);
      if (wallet === undefined) return;
      if (event.recordedAt < from) {
        opening = postedBalance(wallet);
        openingPosition = event.position;
        return;
      }
      for (const posting of journalPostings(ledgerEvent)) {
        if (posting.accountId !== walletId) continue;
        if (entries.length >= STATEMENT_LINES_MAX) throw new StatementTooLongError(`more than ${STATEMENT_LINES_MAX} lines: ask for a shorter period`);
        entries.push(entryOf(event, posting, formatAmount(postedBalance(wallet))));
      }
    },
  });
  const wallet = state.accounts.get(walletId);
  if (wallet === undefined || wallet.kind !== 'wallet') return undefined;
  const tree = new MerkleTree(entries.map((entry) => leafHash(canonicalJson(entry))));
  return {
    format: STATEMENT_FORMAT,
    walletId,
    currency: wallet.currency,
    from,
    to,
    opening: { posted: formatAmount(opening), asOfPosition: openingPosition.toString() },
    closing: { posted: formatAmount(postedBalance(wallet)), asOfPosition: (last?.position ?? 0n).toString() },
    merkle: {
      tree: 'RFC 6962, sha256',
      leaf: 'sha256(0x00 || utf8(canonicalJson(entry)))',
      node: 'sha256(0x01 || left || right)',
      leafCount: entries.length,
      root: tree.root().toString('hex'),
    },
    lines: entries.map((entry, leafIndex) => ({ leafIndex, entry, proof: tree.proof(leafIndex).map((hash) => hash.toString('hex')) })),
  };
}

function entryOf(event: RecordedEvent, posting: JournalPosting, balanceAfter: string): StatementEntry {
  return {
    streamId: event.streamId,
    revision: event.revision.toString(),
    position: event.position.toString(),
    eventId: event.eventId,
    eventHash: event.metadata.hash,
    recordedAt: event.recordedAt,
    entryId: printable(posting.entryId),
    kind: printable(posting.kind),
    postingIndex: posting.postingIndex,
    side: posting.side,
    amount: posting.amount,
    currency: posting.currency,
    balanceAfter,
    references: filterReferences(posting.references).references,
  };
}

/** Checks a statement document against the store; every problem is a `statement` violation. */
export async function verifyStatement(reader: StoreReader, document: unknown): Promise<Findings> {
  const findings = new Findings();
  const fail = (message: string, entry?: Partial<StatementEntry>) =>
    findings.violation({
      check: 'statement',
      streamId: entry?.streamId,
      revision: digits(entry?.revision),
      position: digits(entry?.position),
      message,
    });
  const statement = document as Statement;
  if (!isStatement(document)) {
    fail(`not a ${STATEMENT_FORMAT} document`);
    return findings;
  }
  // The period is compared with commit times as strings: "09:03:00Z" sorts after "09:03:00.000Z", so only the store's form says what it seems to.
  if (!isStoreTime(statement.from) || !isStoreTime(statement.to) || statement.to < statement.from) {
    fail(`the period [${statement.from}, ${statement.to}) is not two times in the store's form (UTC, milliseconds), the first not after the second`);
    return findings;
  }

  // 1. The document on its own: each proof leads to the root, and the root covers exactly these entries.
  const root = Buffer.from(statement.merkle.root, 'hex');
  const leaves = statement.lines.map((line) => leafHash(canonicalJson(line.entry)));
  statement.lines.forEach((line, index) => {
    const proof = line.proof.map((hash) => Buffer.from(hash, 'hex'));
    if (line.leafIndex !== index || !verifyInclusion(leaves[index], index, statement.merkle.leafCount, proof, root)) {
      fail(`line ${index}: its inclusion proof does not lead to the statement's root`, line.entry);
    }
  });
  if (statement.merkle.leafCount !== leaves.length || !new MerkleTree(leaves).root().equals(root)) fail('the Merkle root is not the root of the statement lines');

  // 2. Each line against its event: in an intact chain, with the hash and content the line says.
  const byStream = groupBy(statement.lines.map((line) => line.entry), (entry) => entry.streamId);
  for (const [streamId, entries] of byStream) await checkAgainstChain(reader, streamId, entries, fail);

  // 2b. Everything the statement rests on (its shard's events before `to`: the opening, the lines, the ones left out) is sealed.
  const shard = await shardOfAccount(reader, statement.walletId);
  const broken = shard === undefined ? undefined : await chainBreakBefore(reader, `ledger-${shard}`, statement.to);
  if (broken !== undefined) fail(new UnsealedPeriodError(broken).message, { streamId: broken.streamId, revision: broken.revision.toString(), position: broken.position.toString() });

  // 3. Complete: the store gives the same statement for the same wallet and period.
  const fresh = await buildStatement(reader, statement.walletId, statement.from, statement.to).catch((error: unknown) => {
    if (!(error instanceof StatementTooLongError)) throw error;
    fail(`the store gives more than ${STATEMENT_LINES_MAX} lines for this wallet and period, more than a statement holds`);
    return null;
  });
  if (fresh === null) return findings;
  if (fresh === undefined) fail(`the store has no wallet ${statement.walletId}`);
  else {
    if (fresh.merkle.root !== statement.merkle.root) fail(`the store gives another statement for this period (root ${fresh.merkle.root}, ${fresh.lines.length} lines)`);
    // The document's own fields may be missing or of any type: read, never trusted to be objects.
    const posted = (balance: unknown) => (balance as { posted?: unknown } | null)?.posted;
    if (fresh.opening.posted !== posted(statement.opening)) fail(`opening balance is ${fresh.opening.posted} in the store, ${printable(posted(statement.opening) ?? null)} in the statement`);
    if (fresh.closing.posted !== posted(statement.closing)) fail(`closing balance is ${fresh.closing.posted} in the store, ${printable(posted(statement.closing) ?? null)} in the statement`);
    // Every other field too (currency, positions, anything added): what verifies is exactly what the store gives.
    if (findings.clean) for (const path of differingPaths(fresh, statement)) fail(`${path} differs from what the store gives`);
  }
  return findings;
}

/** Listed differences between two statements kept at most (the first ones, depth first). */
const DIFFERING_PATHS_MAX = 10;

/** Where two JSON values differ ("currency", "opening.asOfPosition", "lines.0.note"), up to DIFFERING_PATHS_MAX. */
function differingPaths(expected: unknown, actual: unknown, path = '', found: string[] = []): string[] {
  if (found.length >= DIFFERING_PATHS_MAX || (expected !== undefined && actual !== undefined && canonicalJson(expected) === canonicalJson(actual))) return found;
  const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null;
  if (!isObject(expected) || !isObject(actual) || Array.isArray(expected) !== Array.isArray(actual)) {
    found.push(path === '' ? 'the document' : path);
    return found;
  }
  for (const key of new Set([...Object.keys(expected), ...Object.keys(actual)])) differingPaths(expected[key], actual[key], path === '' ? key : `${path}.${key}`, found);
  return found;
}

/** The first event of the stream committed before `to` that is not sealed onto the one before it (or out of revision order). */
async function chainBreakBefore(reader: StoreReader, streamId: string, to: string): Promise<RecordedEvent | undefined> {
  let previousHash = GENESIS_HASH;
  let expected = 0n;
  for await (const page of pagesOfStream(reader, streamId)) {
    for (const event of page) {
      if (event.recordedAt >= to) return undefined;
      if (event.revision !== expected || verifyChain([event], previousHash) !== undefined) return event;
      previousHash = event.metadata.hash;
      expected = event.revision + 1n;
    }
  }
  return undefined;
}

/** Walks the stream from its first event to the last line's, checking the chain and each line's event. */
async function checkAgainstChain(
  reader: StoreReader,
  streamId: string,
  entries: readonly StatementEntry[],
  fail: (message: string, entry?: Partial<StatementEntry>) => void,
): Promise<void> {
  const wanted = groupBy(entries, (entry) => entry.revision);
  const lastRevision = entries.reduce((max, entry) => (BigInt(entry.revision) > max ? BigInt(entry.revision) : max), 0n);
  let previousHash = GENESIS_HASH;
  let expected = 0n;
  let chainBrokenAt: bigint | undefined;
  outer: for await (const page of pagesOfStream(reader, streamId)) {
    for (const event of page) {
      if (event.revision > lastRevision) break outer;
      if (chainBrokenAt === undefined && (event.revision !== expected || verifyChain([event], previousHash) !== undefined)) chainBrokenAt = event.revision;
      previousHash = event.metadata.hash;
      expected = event.revision + 1n;
      for (const entry of wanted.get(event.revision.toString()) ?? []) {
        if (chainBrokenAt !== undefined) fail(`the chain of ${streamId} is broken at revision ${chainBrokenAt}, before this line's event`, entry);
        if (event.metadata.hash !== entry.eventHash || event.eventId !== entry.eventId || event.position.toString() !== entry.position) {
          fail(`the event at ${streamId}@${entry.revision} is not the one the line names (hash, id or position differ)`, entry);
          continue;
        }
        const posting = storedJournalPostings(event)[entry.postingIndex];
        const same =
          posting !== undefined &&
          printable(posting.entryId) === entry.entryId &&
          printable(posting.kind) === entry.kind &&
          posting.side === entry.side &&
          posting.amount === entry.amount &&
          posting.currency === entry.currency;
        if (!same) fail(`the line does not match posting ${entry.postingIndex} of its event`, entry);
      }
      wanted.delete(event.revision.toString());
    }
  }
  for (const missing of wanted.values()) for (const entry of missing) fail(`no event at ${streamId}@${entry.revision}`, entry);
}

function isStatement(value: unknown): value is Statement {
  const candidate = value as Statement;
  return (
    hashable(value) &&
    typeof value === 'object' &&
    value !== null &&
    candidate.format === STATEMENT_FORMAT &&
    typeof candidate.walletId === 'string' &&
    typeof candidate.from === 'string' &&
    typeof candidate.to === 'string' &&
    typeof candidate.merkle?.root === 'string' &&
    Number.isSafeInteger(candidate.merkle?.leafCount) &&
    Array.isArray(candidate.lines) &&
    candidate.lines.every(
      (line) =>
        typeof line === 'object' &&
        line !== null &&
        Array.isArray(line.proof) &&
        line.proof.every((hash: unknown) => typeof hash === 'string') &&
        typeof line.entry === 'object' &&
        line.entry !== null &&
        typeof line.entry.streamId === 'string' &&
        digits(line.entry.revision) !== undefined,
    )
  );
}

/** JSON.parse reads 1e400 as Infinity, which canonical JSON (the leaves' encoding) refuses. */
function hashable(value: unknown): boolean {
  try {
    canonicalJson(value);
    return true;
  } catch {
    return false;
  }
}

function digits(text: unknown): bigint | undefined {
  return typeof text === 'string' && /^[0-9]{1,19}$/.test(text) ? BigInt(text) : undefined;
}
