import { chmodSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readOrCreateKeyFile } from './key-file';

/** When set, the next exclusive write (flag 'wx') creates its file and then fails as a full disk does (ENOSPC). */
const diskFull = { next: false };

jest.mock('node:fs', () => {
  const actual = jest.requireActual<typeof import('node:fs')>('node:fs');
  return {
    ...actual,
    writeFileSync: (...args: Parameters<typeof actual.writeFileSync>) => {
      const [path, , options] = args;
      if (diskFull.next && typeof options === 'object' && options?.flag === 'wx') {
        diskFull.next = false;
        actual.closeSync(actual.openSync(path as string, 'wx', options.mode ?? 0o666)); // created, as writeFileSync opens before it writes
        throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
      }
      return actual.writeFileSync(...args);
    },
  };
});

describe('key files generated into DATA_DIR', () => {
  let dir: string;
  let created = 0;
  const make = () => `key-${++created}\n`;
  const warnings: string[] = [];

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'key-file-'));
    created = 0;
    warnings.length = 0;
  });

  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('creates the file once (mode 0600); later starts read that one', () => {
    const path = join(dir, 'k.pem');
    expect(readOrCreateKeyFile(path, make, (m) => warnings.push(m))).toEqual({ text: 'key-1\n', created: true });
    expect(readOrCreateKeyFile(path, make, (m) => warnings.push(m))).toEqual({ text: 'key-1\n', created: false });
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readdirSync(dir)).toEqual(['k.pem']); // no temporary file left
    expect(warnings).toEqual([]);
  });

  it('leaves no empty file behind when the first write fails (disk full): the next start makes it whole', () => {
    const path = join(dir, 'k.pem');
    diskFull.next = true;
    expect(() => readOrCreateKeyFile(path, make, (m) => warnings.push(m))).toThrow(/ENOSPC/);
    expect(readdirSync(dir)).toEqual([]);
    expect(readOrCreateKeyFile(path, make, (m) => warnings.push(m))).toEqual({ text: 'key-2\n', created: true });
  });

  it('warns, naming the file, when others may read it', () => {
    const path = join(dir, 'k.pem');
    readOrCreateKeyFile(path, make, (m) => warnings.push(m));
    chmodSync(path, 0o644);
    expect(readOrCreateKeyFile(path, make, (m) => warnings.push(m)).created).toBe(false);
    expect(warnings).toEqual([`${path} is readable by other users; it should be mode 0600`]);
  });
});
