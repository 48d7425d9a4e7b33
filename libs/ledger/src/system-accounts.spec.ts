import { openSystemAccount, shardOf, systemAccountId, transitFromId, transitToId } from './system-accounts';

describe('system account ids', () => {
  it('opens the accounts the writers name, on the shard they name', () => {
    for (const id of [systemAccountId('funding', 'USD', 0), systemAccountId('fees', 'EUR', 3), transitToId(1, 'USD', 0), transitFromId(0, 'USD', 1)]) {
      expect(openSystemAccount(id)).toMatchObject({ type: 'OpenAccount', accountId: id, kind: 'system' });
    }
    expect(shardOf(systemAccountId('fees', 'EUR', 3), 4)).toBe(3);
  });

  it('gives each system account one id: a number with a leading zero names none', () => {
    // `sys:funding:USD:00` opened a second funding account of shard 0 (and `transit-to-01` a second transit account) for an internal entry.
    for (const id of ['sys:funding:USD:00', 'sys:fees:USD:007', 'sys:transit-to-01:USD:0', 'sys:transit-from-1:USD:00']) {
      expect([id, openSystemAccount(id), shardOf(id, 4)]).toEqual([id, undefined, undefined]);
    }
  });

  it('names no shard for a transit account between a shard and itself, or to a shard past the last', () => {
    expect([transitToId(1, 'USD', 0), transitFromId(0, 'USD', 1)].map((id) => shardOf(id, 4))).toEqual([0, 1]);
    expect([transitToId(2, 'USD', 2), transitFromId(2, 'USD', 2), transitToId(4, 'USD', 0), transitFromId(4, 'USD', 1)].map((id) => shardOf(id, 4))).toEqual([undefined, undefined, undefined, undefined]);
  });
});
