// The card-issuer's read model: one row per card and one per authorization, projected from the
// card streams and the unknown-PAN declines (`card-auth-{id}`). It serves listings (a user's
// cards, a card's authorizations), which card an authorization belongs to after a restart, and
// finished authorizations that left the card's state; single cards and open authorizations are
// read from the streams. Every column is
// a function of the events alone, so a rebuild equals the incrementally built tables. No PAN,
// CVV or sealed PAN is stored here: only the last four digits.
import type Database from 'better-sqlite3';
import { decodePageCursor, encodePageCursor, toIsoTime, type AuthorizationView, type CardView, type Merchant, type RecordedEvent, type SpendingControlsView } from '@ledger/contracts';
import { perDatabase, type Projection } from '@ledger/event-store';
import { CARD_STREAM_PREFIX, cardEventOf, cardStreamKind } from '../application/card-repository';
import type { AuthorizationDeclined } from '../domain/card';
import { isApprovedPhase, statusOfPhase } from '../domain/views';

export const CARD_ISSUER_PROJECTION_NAME = 'card-issuer';
/** Requested authorizations recovery reads per start (a crash leaves at most the ones in flight). */
export const RECOVERY_BATCH_MAX = 10_000;

export const CARD_ISSUER_SCHEMA = `
  CREATE TABLE IF NOT EXISTS card_cards (
    card_id           TEXT    PRIMARY KEY,
    owner_id          TEXT    NOT NULL,
    wallet_id         TEXT    NOT NULL,
    currency          TEXT    NOT NULL,
    last4             TEXT    NOT NULL,
    brand             TEXT    NOT NULL,
    exp_month         INTEGER NOT NULL,
    exp_year          INTEGER NOT NULL,
    status            TEXT    NOT NULL,
    label             TEXT,
    spending_controls TEXT    NOT NULL,
    created_at        TEXT    NOT NULL,
    updated_position  INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE INDEX IF NOT EXISTS card_cards_by_owner ON card_cards (owner_id, created_at, card_id);
  CREATE TABLE IF NOT EXISTS card_authorizations (
    authorization_id  TEXT    PRIMARY KEY,
    card_id           TEXT,
    wallet_id         TEXT,
    phase             TEXT    NOT NULL,
    response_code     TEXT    NOT NULL,
    reason            TEXT    NOT NULL,
    amount            TEXT    NOT NULL,
    currency          TEXT    NOT NULL,
    held_amount       TEXT    NOT NULL,
    captured_amount   TEXT    NOT NULL,
    refunded_amount   TEXT    NOT NULL,
    merchant          TEXT    NOT NULL,
    created_at        TEXT    NOT NULL,
    created_position  INTEGER NOT NULL,
    updated_position  INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE INDEX IF NOT EXISTS card_authorizations_by_card ON card_authorizations (card_id, created_position);
  CREATE INDEX IF NOT EXISTS card_authorizations_by_phase ON card_authorizations (phase);
  CREATE INDEX IF NOT EXISTS card_authorizations_interrupted ON card_authorizations (updated_position)
    WHERE phase = 'declined' AND reason IN ('issuer_recovered', 'card_frozen', 'card_canceled') AND created_position < updated_position;
`;

interface CardRow {
  readonly card_id: string;
  readonly owner_id: string;
  readonly wallet_id: string;
  readonly currency: string;
  readonly last4: string;
  readonly brand: string;
  readonly exp_month: number;
  readonly exp_year: number;
  readonly status: string;
  readonly label: string | null;
  readonly spending_controls: string;
  readonly created_at: string;
}

interface AuthorizationRow {
  readonly authorization_id: string;
  readonly card_id: string | null;
  readonly wallet_id: string | null;
  readonly phase: string;
  readonly response_code: string;
  readonly reason: string;
  readonly amount: string;
  readonly currency: string;
  readonly held_amount: string;
  readonly captured_amount: string;
  readonly refunded_amount: string;
  readonly merchant: string;
  readonly created_at: string;
  readonly created_position: number | bigint;
}

const statements = perDatabase((db: Database.Database) => ({
  insertCard: db.prepare(
    `INSERT INTO card_cards (card_id, owner_id, wallet_id, currency, last4, brand, exp_month, exp_year, status, label, spending_controls, created_at, updated_position)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'active', ?, ?, ?, ?)`,
  ),
  setStatus: db.prepare<[string, bigint, string]>('UPDATE card_cards SET status = ?, updated_position = ? WHERE card_id = ?'),
  setControls: db.prepare<[string, bigint, string]>('UPDATE card_cards SET spending_controls = ?, updated_position = ? WHERE card_id = ?'),
  walletOf: db.prepare<[string], { wallet_id: string }>('SELECT wallet_id FROM card_cards WHERE card_id = ?'),
  insertAuthorization: db.prepare(
    // An id reused on another card (only by a caller bypassing the gateway) keeps its first row.
    `INSERT INTO card_authorizations (authorization_id, card_id, wallet_id, phase, response_code, reason, amount, currency, held_amount, captured_amount, refunded_amount, merchant, created_at, created_position, updated_position)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, '0', '0', ?, ?, ?, ?) ON CONFLICT (authorization_id) DO NOTHING`,
  ),
  authorization: db.prepare<[string], AuthorizationRow>('SELECT * FROM card_authorizations WHERE authorization_id = ?'),
  cardOfAuthorization: db.prepare<[string], { card_id: string | null }>('SELECT card_id FROM card_authorizations WHERE authorization_id = ?'),
  updateAuthorization: db.prepare(
    `UPDATE card_authorizations SET phase = ?, response_code = ?, reason = ?, held_amount = ?, captured_amount = ?, refunded_amount = ?, updated_position = ?
     WHERE authorization_id = ?`,
  ),
  cardsByOwner: db.prepare<[string], CardRow>('SELECT * FROM card_cards WHERE owner_id = ? ORDER BY created_at, card_id'),
  cardCountOfOwner: db.prepare<[string], { count: number }>('SELECT count(*) AS count FROM card_cards WHERE owner_id = ?'),
  // Newest first: a card's authorizations are created in its stream's order, so by the position of their first event.
  authorizationsByCard: db.prepare<[string, number], AuthorizationRow>('SELECT * FROM card_authorizations WHERE card_id = ? ORDER BY created_position DESC LIMIT ?'),
  authorizationsByCardBefore: db.prepare<[string, bigint, number], AuthorizationRow>(
    'SELECT * FROM card_authorizations WHERE card_id = ? AND created_position < ? ORDER BY created_position DESC LIMIT ?',
  ),
  // Requested, then declined without the ledger's answer (recovery, a card frozen or canceled meanwhile): a hold may have been placed.
  // By the partial index (named: the planner would take every decline by phase and sort them, each pass).
  interruptedDeclines: db.prepare<[bigint, string, number], { authorization_id: string; wallet_id: string; updated_position: number | bigint }>(
    `SELECT authorization_id, wallet_id, updated_position FROM card_authorizations INDEXED BY card_authorizations_interrupted
     WHERE phase = 'declined' AND reason IN ('issuer_recovered', 'card_frozen', 'card_canceled') AND created_position < updated_position
       AND updated_position > ? AND created_at >= ? AND wallet_id IS NOT NULL ORDER BY updated_position LIMIT ?`,
  ),
  requested: db.prepare<[number], { authorization_id: string; card_id: string }>(
    `SELECT authorization_id, card_id FROM card_authorizations WHERE phase = 'requested' AND card_id IS NOT NULL LIMIT ?`,
  ),
}));

export const cardIssuerProjection: Projection = {
  name: CARD_ISSUER_PROJECTION_NAME,
  streamPrefixes: [CARD_STREAM_PREFIX],
  setup(db) {
    // A file from before authorizations kept their first event's position (the listing's cursor) is rebuilt from the store.
    const columns = db.prepare<[], { name: string }>("SELECT name FROM pragma_table_info('card_authorizations')").all();
    if (columns.length > 0 && !columns.some((column) => column.name === 'created_position')) {
      db.exec('DROP TABLE card_authorizations; DROP TABLE IF EXISTS card_cards');
      db.prepare('DELETE FROM checkpoints WHERE name = ?').run(CARD_ISSUER_PROJECTION_NAME);
    }
    db.exec(CARD_ISSUER_SCHEMA);
  },
  apply(db, recorded: RecordedEvent) {
    const kind = cardStreamKind(recorded.streamId);
    const sql = statements(db);
    const position = recorded.position;
    if (kind === 'route') {
      if (recorded.type === 'cards.AuthorizationDeclined.v1') insertDeclined(db, (recorded.data as unknown as AuthorizationDeclined['data']), null, position);
      return;
    }
    if (kind !== 'card') return;
    const cardId = recorded.streamId.slice(CARD_STREAM_PREFIX.length);
    const event = cardEventOf(recorded.type, recorded.data);
    switch (event.type) {
      case 'cards.CardIssued.v1': {
        const { data } = event;
        sql.insertCard.run(data.cardId, data.ownerId, data.walletId, data.currency, data.last4, data.brand, data.expMonth, data.expYear, data.label, JSON.stringify(data.spendingControls), toIsoTime(data.atMs), position);
        return;
      }
      case 'cards.CardFrozen.v1':
        sql.setStatus.run('frozen', position, cardId);
        return;
      case 'cards.CardUnfrozen.v1':
        sql.setStatus.run('active', position, cardId);
        return;
      case 'cards.CardCanceled.v1':
        sql.setStatus.run('canceled', position, cardId);
        return;
      case 'cards.SpendingControlsSet.v1':
        sql.setControls.run(JSON.stringify(event.data.spendingControls), position, cardId);
        return;
      case 'cards.CardRevealed.v1':
        return;
      case 'cards.AuthorizationRequested.v1': {
        const { data } = event;
        sql.insertAuthorization.run(data.authorizationId, cardId, data.walletId, 'requested', '05', 'in_progress', data.amount, data.currency, data.amount, JSON.stringify(data.merchant), toIsoTime(data.atMs), position, position);
        return;
      }
      case 'cards.AuthorizationDeclined.v1': {
        const row = sql.authorization.get(event.data.authorizationId);
        if (row === undefined) insertDeclined(db, event.data, cardId, position);
        else if (row.card_id === cardId) update(db, row, { phase: 'declined', response_code: event.data.responseCode, reason: event.data.reason, held_amount: '0' }, position);
        return;
      }
      case 'cards.AuthorizationApproved.v1':
        updateOf(db, cardId, event.data.authorizationId, position, () => ({ phase: 'pending', response_code: '00', reason: 'approved' }));
        return;
      case 'cards.AuthorizationCaptured.v1':
        updateOf(db, cardId, event.data.authorizationId, position, () => ({ phase: 'captured', held_amount: '0', captured_amount: event.data.capturedAmount }));
        return;
      case 'cards.AuthorizationReversed.v1':
        updateOf(db, cardId, event.data.authorizationId, position, (row) => {
          const held = BigInt(row.held_amount) - BigInt(event.data.releasedAmount);
          return { phase: held === 0n ? 'reversed' : row.phase, held_amount: held.toString() };
        });
        return;
      case 'cards.AuthorizationRefunded.v1':
        updateOf(db, cardId, event.data.authorizationId, position, (row) => ({ refunded_amount: (BigInt(row.refunded_amount) + BigInt(event.data.amount)).toString() }));
        return;
      case 'cards.AuthorizationExpired.v1':
        updateOf(db, cardId, event.data.authorizationId, position, () => ({ phase: 'expired', held_amount: '0' }));
        return;
    }
  },
};

function insertDeclined(db: Database.Database, data: AuthorizationDeclined['data'], cardId: string | null, position: bigint): void {
  const walletId = cardId === null ? null : (statements(db).walletOf.get(cardId)?.wallet_id ?? null);
  statements(db).insertAuthorization.run(data.authorizationId, cardId, walletId, 'declined', data.responseCode, data.reason, data.amount, data.currency, '0', JSON.stringify(data.merchant), toIsoTime(data.atMs), position, position);
}

/** Applies `changes` to the card's row of an authorization (a row of another card with the same id is left alone). */
function updateOf(db: Database.Database, cardId: string, authorizationId: string, position: bigint, changes: (row: AuthorizationRow) => Partial<AuthorizationRow>): void {
  const row = statements(db).authorization.get(authorizationId);
  if (row === undefined) throw new Error(`projection ${CARD_ISSUER_PROJECTION_NAME}: unknown authorization ${authorizationId}`);
  if (row.card_id === cardId) update(db, row, changes(row), position);
}

function update(db: Database.Database, row: AuthorizationRow, changes: Partial<AuthorizationRow>, position: bigint): void {
  const next = { ...row, ...changes };
  statements(db).updateAuthorization.run(next.phase, next.response_code, next.reason, next.held_amount, next.captured_amount, next.refunded_amount, position, row.authorization_id);
}

export function listCards(db: Database.Database, ownerId: string): CardView[] {
  return statements(db).cardsByOwner.all(ownerId).map(cardViewOf);
}

export function cardCountOf(db: Database.Database, ownerId: string): number {
  return statements(db).cardCountOfOwner.get(ownerId)?.count ?? 0;
}

/** The card an authorization belongs to; undefined when there is no such authorization or it is an unknown PAN's decline. */
export function cardOfAuthorization(db: Database.Database, authorizationId: string): string | undefined {
  const row = statements(db).cardOfAuthorization.get(authorizationId);
  return row === undefined || row.card_id === null ? undefined : row.card_id;
}

export function findAuthorization(db: Database.Database, authorizationId: string): AuthorizationView | undefined {
  const row = statements(db).authorization.get(authorizationId);
  return row === undefined ? undefined : authorizationViewOf(row);
}

/** Newest first. */
/** A page of a card's authorizations, newest first; undefined when `cursor` is not one this listing gave out. */
export function listAuthorizations(db: Database.Database, cardId: string, limit: number, cursor?: string): { items: AuthorizationView[]; nextCursor: string | null } | undefined {
  const after = cursor === undefined ? undefined : decodePageCursor(cursor);
  if (cursor !== undefined && (after === undefined || after.seq !== 0n)) return undefined;
  const rows = after === undefined ? statements(db).authorizationsByCard.all(cardId, limit + 1) : statements(db).authorizationsByCardBefore.all(cardId, after.position, limit + 1);
  const items = rows.slice(0, limit);
  const nextCursor = rows.length > limit ? encodePageCursor(BigInt(items[items.length - 1].created_position), 0n) : null;
  return { items: items.map(authorizationViewOf), nextCursor };
}

/**
 * Authorizations declined after their hold was asked for, without the ledger's answer (a hold may still be pending
 * behind the decline), declined after position `after` and requested at or after `sinceMs`; in the order declined.
 */
export function interruptedDeclines(db: Database.Database, after: bigint, sinceMs: number, limit: number): { authorizationId: string; walletId: string; position: bigint }[] {
  return statements(db)
    .interruptedDeclines.all(after, toIsoTime(sinceMs), limit)
    .map((row) => ({ authorizationId: row.authorization_id, walletId: row.wallet_id, position: BigInt(row.updated_position) }));
}

/** Authorizations whose hold was asked for and whose answer is not recorded (what recovery finishes). */
export function requestedAuthorizations(db: Database.Database): { authorizationId: string; cardId: string }[] {
  return statements(db).requested.all(RECOVERY_BATCH_MAX).map((row) => ({ authorizationId: row.authorization_id, cardId: row.card_id }));
}

function cardViewOf(row: CardRow): CardView {
  return {
    id: row.card_id,
    walletId: row.wallet_id,
    ownerId: row.owner_id,
    currency: row.currency,
    last4: row.last4,
    brand: row.brand,
    expMonth: row.exp_month,
    expYear: row.exp_year,
    status: row.status as CardView['status'],
    label: row.label,
    spendingControls: JSON.parse(row.spending_controls) as SpendingControlsView,
    createdAt: row.created_at,
  };
}

function authorizationViewOf(row: AuthorizationRow): AuthorizationView {
  const phase = row.phase as Parameters<typeof statusOfPhase>[0];
  const approved = isApprovedPhase(phase);
  return {
    id: row.authorization_id,
    cardId: row.card_id,
    approved,
    responseCode: row.response_code as AuthorizationView['responseCode'],
    reason: row.reason,
    amount: row.amount,
    currency: row.currency,
    heldAmount: row.held_amount,
    capturedAmount: row.captured_amount,
    refundedAmount: row.refunded_amount,
    status: statusOfPhase(phase),
    merchant: JSON.parse(row.merchant) as Merchant,
    holdId: approved ? row.authorization_id : null,
    walletId: row.wallet_id,
    createdAt: row.created_at,
  };
}
