// The card projection through a real run: a rebuild from position 0 equals the incrementally built tables.
import type Database from 'better-sqlite3';
import { waitFor } from '@ledger/contracts/testing';
import { openProjectionDb, ProjectionRunner } from '@ledger/event-store';
import { authorize, authorizeMessage, cardholder } from '../testing/card-fixtures';
import { startCardHarness } from '../testing/card-issuer.harness';
import { cardIssuerProjection } from './card-issuer.projection';

describe('the card projection', () => {
  it('rebuilt from position 0 equals the incrementally built one', async () => {
    const h = await startCardHarness({ env: { CARD_HOLD_TIMEOUT_MS: '60000' } });
    try {
      const holder = await cardholder(h, { spendingControls: { daily: '5000' } });
      const approved = authorizeMessage(holder.secrets, { amount: '1000' });
      await authorize(h, approved);
      await authorize(h, authorizeMessage(holder.secrets, { amount: '9000' }));
      await authorize(h, authorizeMessage(holder.secrets, { pan: '4000000000000002' }));
      await h.send({ type: 'CaptureAuthorization', authorizationId: approved.authorizationId, amount: '800' });
      await h.send({ type: 'RefundAuthorization', refundId: 'r', authorizationId: approved.authorizationId, amount: '300' });
      const reversed = authorizeMessage(holder.secrets, { amount: '500' });
      await authorize(h, reversed);
      await h.send({ type: 'ReverseAuthorization', authorizationId: reversed.authorizationId, amount: '200' });
      await authorize(h, authorizeMessage(holder.secrets, { amount: '100' }));
      h.clock.advance(60_001);
      await waitFor('the expiries', () => (h.db.prepare(`SELECT COUNT(*) AS open FROM card_authorizations WHERE phase = 'pending'`).get() as { open: number }).open === 0);
      await h.send({ type: 'SetSpendingControls', cardId: holder.card.id, spendingControls: { monthly: '1' } });
      await h.send({ type: 'FreezeCard', cardId: holder.card.id });
      await h.cards.projection.waitUntil(await h.ledger.store.headPosition());

      const rebuilt = openProjectionDb(':memory:');
      const runner = new ProjectionRunner({ store: h.ledger.store, db: rebuilt, projection: cardIssuerProjection });
      await runner.start();
      expect(await runner.waitUntil(await h.ledger.store.headPosition())).toBe(true);
      await runner.stop();
      const dump = (db: Database.Database, table: string) => JSON.stringify(db.prepare(`SELECT * FROM ${table} ORDER BY 1`).all(), (_key, value: unknown) => (typeof value === 'bigint' ? value.toString() : value));
      for (const table of ['card_cards', 'card_authorizations']) expect(dump(rebuilt, table)).toBe(dump(h.db, table));
      expect(dump(h.db, 'card_authorizations')).toContain('expired');
      rebuilt.close();

      // A file of the schema before created_position (the listing's cursor), caught up: rebuilt from the store, not left without it.
      const older = openProjectionDb(':memory:');
      older.exec(`CREATE TABLE card_authorizations (authorization_id TEXT PRIMARY KEY, card_id TEXT, created_at TEXT NOT NULL, updated_position INTEGER NOT NULL) WITHOUT ROWID;
        CREATE TABLE card_cards (card_id TEXT PRIMARY KEY) WITHOUT ROWID;
        CREATE TABLE checkpoints (name TEXT PRIMARY KEY, position INTEGER NOT NULL) WITHOUT ROWID;`);
      older.prepare('INSERT INTO checkpoints (name, position) VALUES (?, ?)').run(cardIssuerProjection.name, await h.ledger.store.headPosition());
      const upgraded = new ProjectionRunner({ store: h.ledger.store, db: older, projection: cardIssuerProjection });
      await upgraded.start();
      expect(await upgraded.waitUntil(await h.ledger.store.headPosition())).toBe(true);
      await upgraded.stop();
      for (const table of ['card_cards', 'card_authorizations']) expect(dump(older, table)).toBe(dump(h.db, table));
      older.close();
    } finally {
      await h.close({ remove: true });
    }
  });
});
