// Development keys generated into DATA_DIR on a first start (identity's signing and TOTP keys,
// the card-issuer's keys): created once, mode 0600, and read by every later start.
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, linkSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * The file's text, creating it (0600) from `create()` unless it exists; whoever creates it first
 * wins and everyone reads that one. Written whole under a temporary name, then linked into place:
 * a start that dies or fails while writing (disk full) leaves no empty key file that every later
 * start would refuse. Synced, file and directory, before anything is encrypted or signed with it:
 * a key lost to a power cut would leave every card sealed under it unreadable. `warn` hears of an
 * existing file others may read.
 */
export function readOrCreateKeyFile(path: string, create: () => string, warn: (message: string) => void): { readonly text: string; readonly created: boolean } {
  const temporary = `${path}.${process.pid}.${randomBytes(8).toString('hex')}.tmp`;
  let created = false;
  try {
    writeFileSync(temporary, create(), { mode: 0o600, flag: 'wx' });
    syncPath(temporary);
    linkSync(temporary, path); // atomic, and EEXIST when another start made it first
    created = true;
    syncPath(dirname(path));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    if (process.platform !== 'win32' && (statSync(path).mode & 0o077) !== 0) warn(`${path} is readable by other users; it should be mode 0600`);
  } finally {
    rmSync(temporary, { force: true });
  }
  return { text: readFileSync(path, 'utf8'), created };
}

function syncPath(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
