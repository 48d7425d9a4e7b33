import { checkReadiness, sharedWhileInFlight } from './readiness';

describe('readiness', () => {
  it('reads a shared value once for the checks that ask while it runs, and afresh for the next round', async () => {
    let reads = 0;
    const head = sharedWhileInFlight(async () => BigInt(++reads));
    const checks = ['a', 'b', 'c', 'd'].map((name) => ({ name, ready: async () => (await head()) >= 1n }));
    expect(await checkReadiness(checks, 1_000)).toEqual({ ready: true, checks: { a: 'ok', b: 'ok', c: 'ok', d: 'ok' } });
    expect(reads).toBe(1);
    await checkReadiness(checks, 1_000);
    expect(reads).toBe(2);
  });

  it('a failed read fails the checks of its round and is not kept for the next', async () => {
    let reads = 0;
    const head = sharedWhileInFlight(async () => {
      if (++reads === 1) throw new Error('store closed');
      return 7n;
    });
    const checks = [{ name: 'event-store', ready: async () => (await head()) >= 0n }];
    expect(await checkReadiness(checks, 1_000)).toEqual({ ready: false, checks: { 'event-store': 'failing' } });
    expect(await checkReadiness(checks, 1_000)).toEqual({ ready: true, checks: { 'event-store': 'ok' } });
  });
});
