import { join } from 'node:path';
import { spawnTs } from '@ledger/contracts/testing';

describe('main (the npm start process)', () => {
  it('stops at start with exit 78 and a message naming a bad setting', async () => {
    const child = spawnTs(join(__dirname, 'main.ts'), [], { env: { ...process.env, PORT: 'eighty', DATA_DIR: '/nonexistent-never-created' } });
    const exit = await child.exited;
    expect(exit.code).toBe(78);
    expect(child.stderr()).toContain('PORT');
    expect(child.stdout()).not.toContain('listening');
  });
});
