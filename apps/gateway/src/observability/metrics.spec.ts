import { GatewayMetrics } from './metrics';

/** The counter's value in a /metrics text. */
function loopActiveS(text: string): number {
  const value = /^gateway_event_loop_active_seconds_total ([0-9.e+-]+)$/m.exec(text)?.[1];
  if (value === undefined) throw new Error('no gateway_event_loop_active_seconds_total in /metrics');
  return Number(value);
}

describe('GatewayMetrics', () => {
  it('counts the time the main event loop runs code, growing by a busy stretch between two scrapes', async () => {
    const metrics = new GatewayMetrics();
    const before = loopActiveS(await metrics.render());
    // Busy on purpose: the counter must see at least this much more active time.
    const until = performance.now() + 50;
    while (performance.now() < until);
    const after = loopActiveS(await metrics.render());
    expect(after - before).toBeGreaterThanOrEqual(0.045);
    expect(loopActiveS(await metrics.render())).toBeGreaterThanOrEqual(after);
  });
});
