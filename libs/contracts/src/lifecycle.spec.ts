import { ShutdownStack } from './lifecycle';

describe('ShutdownStack', () => {
  it('closes the parts newest first, once', async () => {
    const closed: string[] = [];
    const stack = new ShutdownStack();
    stack.add({ close: () => void closed.push('store') });
    stack.add({ close: async () => void closed.push('bus') });
    await Promise.all([stack.close(), stack.close()]);
    expect(closed).toEqual(['bus', 'store']);
  });

  it('closes what was started when a later part fails to start, and rethrows', async () => {
    const closed: string[] = [];
    const stack = new ShutdownStack();
    const attempt = stack.startOrClose(async () => {
      stack.add({ close: () => void closed.push('projection') });
      throw new Error('the bus is down');
    });
    await expect(attempt).rejects.toThrow('the bus is down');
    expect(closed).toEqual(['projection']);
  });
});
